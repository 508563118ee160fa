# MetaBEV on nuScenes with the CenterPoint-style head instead of TransFusion (the head option
# the paper also reports): the same branches, fuser
# and map head as metabev_lidar-cam_swint-voxel0075_bev-evolving-m2oe_8xb4-cyclic-20e_nus-3d-map.py,
# trained in one stage from scratch on the cyclic 20-epoch schedule (no load_from, no CBGS: the
# dataset base's train pipeline as is). The bases are listed here, not inherited through that
# config, to keep _base_ chains at depth <= 2.
#   bash tools/dist_train.sh configs/metabev/<this file> 8
_base_ = [
    '../_base_/datasets/nus-bev-3d.py', '../_base_/models/metabev_swint-voxel0075_nus.py',
    '../_base_/models/centerhead_voxel0075_nus.py', '../_base_/schedules/cyclic-20e.py',
    '../_base_/default_runtime.py'
]
model = dict(bbox_head=dict(_delete_=True, **_base_.centerhead['bbox_head']),
             train_cfg=dict(_delete_=True, **_base_.centerhead['train_cfg']),
             test_cfg=dict(_delete_=True, **_base_.centerhead['test_cfg']))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
# switched-modality training leaves a branch without gradient in some iterations
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
