# BEVFusion LiDAR-only (0.075 m voxels + sparse encoder) on nuScenes; the camera branch is not
# built and the conv fuser sees zeros for it. 8 GPUs x 4 samples.
_base_ = ['./bevfusion_lidar-cam_swint-voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map.py']
model = dict(img_backbone=None, img_neck=None, view_transform=None)
