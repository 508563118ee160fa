# BEVFusion (conv fuser), camera + LiDAR, detection + map segmentation, on the synthetic nuScenes
# world on 2 CPU cores: the baseline of MetaBEV's claim check (configs/metabev/README.md).
#
#   python tools/create_data.py synthetic --out data/synthetic
#   python tools/create_data.py nuscenes --root-path data/synthetic/nuscenes --version v1.0-mini
#   python tools/train.py configs/bevfusion/bevfusion_lidar-cam_tiny_1xb2-cpu_synthetic.py
_base_ = [
    '../_base_/datasets/synthetic-nus-bev.py', '../_base_/models/bevfusion-tiny_synthetic.py',
    '../_base_/schedules/cosine-12e_synthetic.py', '../_base_/default_runtime.py'
]
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
