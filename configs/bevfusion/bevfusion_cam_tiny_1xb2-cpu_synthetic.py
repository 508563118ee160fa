# BEVFusion camera-only on the synthetic world on CPU (tiny model of the lidar-cam config; the
# bases are listed here, not inherited through it, to keep _base_ chains at depth <= 2).
_base_ = [
    '../_base_/datasets/synthetic-nus-bev.py', '../_base_/models/bevfusion-tiny_synthetic.py',
    '../_base_/schedules/cosine-12e_synthetic.py', '../_base_/default_runtime.py'
]
model = dict(pts_voxel_encoder=None, pts_middle_encoder=None)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
