# BEVFusion camera-only (Swin-T + LSS) on nuScenes; the conv fuser sees zeros for the absent
# LiDAR input (the branch is not built). 8 GPUs x 4 samples.
_base_ = ['./bevfusion_lidar-cam_swint-voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map.py']
model = dict(pts_voxel_encoder=None, pts_middle_encoder=None)
