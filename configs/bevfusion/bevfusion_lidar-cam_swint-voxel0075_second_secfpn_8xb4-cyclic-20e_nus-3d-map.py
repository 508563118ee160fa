# BEVFusion (conv fuser), camera + LiDAR, 3D detection + BEV map segmentation on nuScenes,
# 8 GPUs x 4 samples, cyclic 20 epochs -- the baseline of MetaBEV's tables (as MetaBEV reports
# it, nuScenes val: C+L 71.4 NDS, map mIoU 62.3).
#   bash tools/dist_train.sh configs/bevfusion/<this file> 8
_base_ = [
    '../_base_/datasets/nus-bev-3d.py', '../_base_/models/bevfusion_swint-voxel0075_nus.py',
    '../_base_/schedules/cyclic-20e.py', '../_base_/default_runtime.py'
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
