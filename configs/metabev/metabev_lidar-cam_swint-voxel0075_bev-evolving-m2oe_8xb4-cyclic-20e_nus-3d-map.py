# MetaBEV on nuScenes: BEVFusion branches + BEV-Evolving decoder with M²oE, switched-modality
# training, 3D detection + BEV map segmentation, 8 GPUs x 4 samples.
# Paper (nuScenes val): C+L 68.0 mAP / 71.5 NDS / 70.4 map mIoU; missing camera 63.6 / 69.2 /
# 53.7; missing LiDAR 39.0 / 42.6 / 54.4. One checkpoint serves all three inputs:
#   python tools/robustness.py configs/metabev/<this file> CKPT --corruptions missing_camera \
#       missing_lidar
# Training follows BEVFusion's recipe (this code's choice: the paper builds on BEVFusion and does
# not spell the schedule out): fine-tuning for 6 epochs (cosine-6e_finetune.py) from BEVFusion's
# LiDAR-only model (load_from: configs/bevfusion/bevfusion_lidar_voxel0075_second_secfpn_8xb4-
# cyclic-20e_nus-3d-map.py trained first; the LiDAR branch and heads load, the camera branch
# starts from the nuImages-pretrained Swin-T, the BEV-Evolving decoder from scratch), CBGS, no
# GT-paste, rotation +-pi/4, 9 sweeps.
#   bash tools/dist_train.sh configs/metabev/<this file> 8 \
#       [--cfg-options load_from=CKPT model.img_backbone.init_cfg.checkpoint=SWIN_PTH]
# Swin-T weights: mmdet3d's nuImages-pretrained Swin-T (BEVFusion's), from
# https://download.openmmlab.com/mmdetection3d/v1.1.0_models/bevfusion/swint-nuimages-pretrained.pth
# saved as swin_checkpoint below (a missing file stops model.init_weights() with
# FileNotFoundError naming the path). A total batch other than 32: add --auto-scale-lr.
_base_ = [
    '../_base_/datasets/nus-bev-3d.py', '../_base_/models/metabev_swint-voxel0075_nus.py',
    '../_base_/schedules/cosine-6e_finetune.py', '../_base_/default_runtime.py'
]
# override on the command line through the key it ends up in:
#   --cfg-options model.img_backbone.init_cfg.checkpoint=PATH
swin_checkpoint = 'checkpoints/swint-nuimages-pretrained.pth'
# BEVFusion's stage 1 (tools/train.py's default work dir); --cfg-options load_from=PATH
load_from = ('work_dirs/bevfusion_lidar_voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map/'
             'epoch_20.pth')
model = dict(img_backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=swin_checkpoint)))
train_pipeline = _base_.train_pipeline_no_paste
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CBGSDataset',
    dataset=dict(_base_.train_dataloader.dataset, pipeline=train_pipeline)))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
# switched-modality training leaves a branch without gradient in some iterations
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
