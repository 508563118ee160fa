# MetaBEV on nuScenes with the CenterPoint-style head instead of TransFusion (the head
# option the paper also reports), otherwise exactly
# metabev_lidar-cam_swint-voxel0075_bev-evolving-m2oe_8xb4-cyclic-20e_nus-3d-map.py:
# stage 2 of BEVFusion's recipe, 6 epochs of fine-tuning (cosine-6e_finetune.py) from the
# CenterHead LiDAR-only stage 1 (load_from; configs/bevfusion/bevfusion_lidar_voxel0075_
# second_secfpn_centerhead_8xb4-cyclic-20e_nus-3d-map.py trained first), nuImages Swin-T,
# CBGS, no GT-paste. The bases are listed here, not inherited through that config, to keep
# _base_ chains at depth <= 2.
#   bash tools/dist_train.sh configs/metabev/<this file> 8 \
#       [--cfg-options load_from=CKPT model.img_backbone.init_cfg.checkpoint=SWIN_PTH]
_base_ = [
    '../_base_/datasets/nus-bev-3d.py', '../_base_/models/metabev_swint-voxel0075_nus.py',
    '../_base_/models/centerhead_voxel0075_nus.py', '../_base_/schedules/cosine-6e_finetune.py',
    '../_base_/default_runtime.py'
]
swin_checkpoint = 'checkpoints/swint-nuimages-pretrained.pth'
# the CenterHead stage 1's last checkpoint (tools/train.py's default work dir)
load_from = ('work_dirs/bevfusion_lidar_voxel0075_second_secfpn_centerhead_8xb4-cyclic-20e_'
             'nus-3d-map/epoch_20.pth')
model = dict(img_backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=swin_checkpoint)),
             bbox_head=dict(_delete_=True, **_base_.centerhead['bbox_head']),
             train_cfg=dict(_delete_=True, **_base_.centerhead['train_cfg']),
             test_cfg=dict(_delete_=True, **_base_.centerhead['test_cfg']))
train_pipeline = _base_.train_pipeline_no_paste
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CBGSDataset',
    dataset=dict(_base_.train_dataloader.dataset, pipeline=train_pipeline)))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
# switched-modality training leaves a branch without gradient in some iterations
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
