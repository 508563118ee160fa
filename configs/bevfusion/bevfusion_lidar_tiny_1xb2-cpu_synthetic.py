# BEVFusion LiDAR-only on the synthetic world on CPU (tiny model of the lidar-cam config).
_base_ = ['./bevfusion_lidar-cam_tiny_1xb2-cpu_synthetic.py']
model = dict(img_backbone=None, img_neck=None, view_transform=None)
