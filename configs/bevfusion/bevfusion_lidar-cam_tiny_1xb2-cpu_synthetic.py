# BEVFusion (conv fuser), camera + LiDAR, detection + map segmentation, on the synthetic nuScenes
# world on 2 CPU cores: the baseline of MetaBEV's claim check (configs/metabev/README.md).
#
#   python tools/create_data.py synthetic --out data/synthetic
#   python tools/create_data.py nuscenes --root-path data/synthetic/nuscenes --version v1.0-mini
#   python tools/train.py configs/bevfusion/bevfusion_lidar-cam_tiny_1xb2-cpu_synthetic.py
_base_ = [
    '../_base_/datasets/synthetic-nus-bev.py', '../_base_/models/bevfusion-tiny_synthetic.py',
    '../_base_/default_runtime.py'
]

max_epochs = 12
lr = 3e-3
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=lr, weight_decay=0.01),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=lr * 1e-2, begin=0,
         end=max_epochs, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval=max_epochs))
