# BEVFusion LiDAR-only (0.075 m voxels + sparse encoder) on nuScenes; the camera branch is not
# built and the conv fuser sees zeros for it. 8 GPUs x 4 samples. BEVFusion's recipe, stage 1
# of 2 (the LiDAR-only pretraining that the camera + LiDAR configs fine-tune with load_from):
# 20 epochs one-cycle (cyclic-20e.py), CBGS, GT-paste from the GT database for epochs 0-14 and
# the pipeline without it for the last 5 (WrappedPipelineSwitchHook: mmdet's PipelineSwitchHook
# applied under the CBGS wrapper), rotation +-pi/4, 9 sweeps. The GT database comes with the
# infos: python tools/create_data.py nuscenes --root-path data/nuscenes --version v1.0-trainval
#   bash tools/dist_train.sh configs/bevfusion/<this file> 8    # -> work_dirs/<this name>/epoch_20.pth
_base_ = [
    '../_base_/datasets/nus-bev-3d.py', '../_base_/models/bevfusion_swint-voxel0075_nus.py',
    '../_base_/schedules/cyclic-20e.py', '../_base_/default_runtime.py'
]
model = dict(img_backbone=None, img_neck=None, view_transform=None)
gt_paste_stop_epoch = 15  # first epoch (0-based) without GT-paste
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CBGSDataset', dataset=_base_.train_dataloader.dataset))
custom_hooks = [
    dict(type='WrappedPipelineSwitchHook', switch_epoch=gt_paste_stop_epoch,
         switch_pipeline=_base_.train_pipeline_no_paste)
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
