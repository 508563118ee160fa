# BEVFusion LiDAR-only with the CenterPoint-style head instead of TransFusion (the head option
# the papers also report): stage 1 of the CenterHead recipe, otherwise exactly
# bevfusion_lidar_voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map.py (20 epochs one-cycle,
# CBGS, GT-paste for epochs 0-14, rotation +-pi/4, 9 sweeps). The bases are listed here, not
# inherited through that config, to keep _base_ chains at depth <= 2.
#   bash tools/dist_train.sh configs/bevfusion/<this file> 8  # -> work_dirs/<name>/epoch_20.pth
_base_ = [
    '../_base_/datasets/nus-bev-3d.py', '../_base_/models/bevfusion_swint-voxel0075_nus.py',
    '../_base_/models/centerhead_voxel0075_nus.py', '../_base_/schedules/cyclic-20e.py',
    '../_base_/default_runtime.py'
]
model = dict(img_backbone=None, img_neck=None, view_transform=None,
             bbox_head=dict(_delete_=True, **_base_.centerhead['bbox_head']),
             train_cfg=dict(_delete_=True, **_base_.centerhead['train_cfg']),
             test_cfg=dict(_delete_=True, **_base_.centerhead['test_cfg']))
gt_paste_stop_epoch = 15  # first epoch (0-based) without GT-paste
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CBGSDataset', dataset=_base_.train_dataloader.dataset))
custom_hooks = [
    dict(type='WrappedPipelineSwitchHook', switch_epoch=gt_paste_stop_epoch,
         switch_pipeline=_base_.train_pipeline_no_paste)
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
