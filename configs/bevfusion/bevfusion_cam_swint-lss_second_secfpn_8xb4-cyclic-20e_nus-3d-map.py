# BEVFusion camera-only (Swin-T + LSS) on nuScenes; the conv fuser sees zeros for the absent
# LiDAR input (the branch is not built). 8 GPUs x 4 samples, trained from the nuImages-pretrained
# Swin-T (no LiDAR-only stage): 20 epochs one-cycle (cyclic-20e.py), CBGS, no GT-paste (LiDAR
# points only), rotation +-pi/4.
# Swin-T weights: mmdet3d's nuImages-pretrained Swin-T (BEVFusion's), from
# https://download.openmmlab.com/mmdetection3d/v1.1.0_models/bevfusion/swint-nuimages-pretrained.pth
# saved as swin_checkpoint below, or --cfg-options model.img_backbone.init_cfg.checkpoint=PATH
# (a missing file stops model.init_weights() with FileNotFoundError naming the path).
_base_ = [
    '../_base_/datasets/nus-bev-3d.py', '../_base_/models/bevfusion_swint-voxel0075_nus.py',
    '../_base_/schedules/cyclic-20e.py', '../_base_/default_runtime.py'
]
swin_checkpoint = 'checkpoints/swint-nuimages-pretrained.pth'
model = dict(pts_voxel_encoder=None, pts_middle_encoder=None,
             img_backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=swin_checkpoint)))
train_pipeline = _base_.train_pipeline_no_paste
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CBGSDataset',
    dataset=dict(_base_.train_dataloader.dataset, pipeline=train_pipeline)))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
