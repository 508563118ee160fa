# BEVFusion (conv fuser), camera + LiDAR, with the CenterPoint-style head instead of TransFusion
# (the head option the papers also report): the same branches, fuser
# and map head as bevfusion_lidar-cam_swint-voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map.py,
# trained in one stage from scratch on the cyclic 20-epoch schedule (no load_from, no CBGS: the
# dataset base's train pipeline as is). The bases are listed here, not inherited through that
# config, to keep _base_ chains at depth <= 2.
#   bash tools/dist_train.sh configs/bevfusion/<this file> 8
_base_ = [
    '../_base_/datasets/nus-bev-3d.py', '../_base_/models/bevfusion_swint-voxel0075_nus.py',
    '../_base_/models/centerhead_voxel0075_nus.py', '../_base_/schedules/cyclic-20e.py',
    '../_base_/default_runtime.py'
]
model = dict(bbox_head=dict(_delete_=True, **_base_.centerhead['bbox_head']),
             train_cfg=dict(_delete_=True, **_base_.centerhead['train_cfg']),
             test_cfg=dict(_delete_=True, **_base_.centerhead['test_cfg']))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
