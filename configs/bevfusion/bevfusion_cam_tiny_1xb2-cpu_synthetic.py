# BEVFusion camera-only on the synthetic world on CPU (tiny model of the lidar-cam config).
_base_ = ['./bevfusion_lidar-cam_tiny_1xb2-cpu_synthetic.py']
model = dict(pts_voxel_encoder=None, pts_middle_encoder=None)
