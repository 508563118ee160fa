# BEVFusion (conv fuser), camera + LiDAR, 3D detection + BEV map segmentation on nuScenes,
# 8 GPUs x 4 samples -- the baseline of MetaBEV's tables (as MetaBEV reports it, nuScenes val:
# C+L 71.4 NDS, map mIoU 62.3). BEVFusion's recipe, stage 2 of 2: fine-tuning for 6 epochs
# (cosine-6e_finetune.py; the name keeps the recipe's "cyclic-20e" as mmdet3d's does) from the
# LiDAR-only model of stage 1 (load_from; the LiDAR branch, fuser and heads load, the camera
# branch starts from the nuImages-pretrained Swin-T), CBGS, no GT-paste (the pasted points
# would have no image counterpart), rotation +-pi/4, 9 sweeps.
#   bash tools/dist_train.sh configs/bevfusion/bevfusion_lidar_voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map.py 8
#   bash tools/dist_train.sh configs/bevfusion/<this file> 8 \
#       [--cfg-options load_from=CKPT model.img_backbone.init_cfg.checkpoint=SWIN_PTH]
# Swin-T weights: mmdet3d's nuImages-pretrained Swin-T (BEVFusion's), from
# https://download.openmmlab.com/mmdetection3d/v1.1.0_models/bevfusion/swint-nuimages-pretrained.pth
# saved as swin_checkpoint below (a missing file stops model.init_weights() with
# FileNotFoundError naming the path). A total batch other than 32: add --auto-scale-lr.
_base_ = [
    '../_base_/datasets/nus-bev-3d.py', '../_base_/models/bevfusion_swint-voxel0075_nus.py',
    '../_base_/schedules/cosine-6e_finetune.py', '../_base_/default_runtime.py'
]
# override on the command line through the key it ends up in:
#   --cfg-options model.img_backbone.init_cfg.checkpoint=PATH
swin_checkpoint = 'checkpoints/swint-nuimages-pretrained.pth'
# stage 1's last checkpoint (tools/train.py's default work dir); --cfg-options load_from=PATH
load_from = ('work_dirs/bevfusion_lidar_voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map/'
             'epoch_20.pth')
model = dict(img_backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=swin_checkpoint)))
train_pipeline = _base_.train_pipeline_no_paste
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CBGSDataset',
    dataset=dict(_base_.train_dataloader.dataset, pipeline=train_pipeline)))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
