# MetaBEV on nuScenes: BEVFusion branches + BEV-Evolving decoder with M²oE, switched-modality
# training, 3D detection + BEV map segmentation, 8 GPUs x 4 samples, cyclic 20 epochs.
# Paper (nuScenes val): C+L 68.0 mAP / 71.5 NDS / 70.4 map mIoU; missing camera 63.6 / 69.2 /
# 53.7; missing LiDAR 39.0 / 42.6 / 54.4. One checkpoint serves all three inputs:
#   python tools/robustness.py configs/metabev/<this file> CKPT --corruptions missing_camera \
#       missing_lidar
_base_ = [
    '../_base_/datasets/nus-bev-3d.py', '../_base_/models/metabev_swint-voxel0075_nus.py',
    '../_base_/schedules/cyclic-20e.py', '../_base_/default_runtime.py'
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
# switched-modality training leaves a branch without gradient in some iterations
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
