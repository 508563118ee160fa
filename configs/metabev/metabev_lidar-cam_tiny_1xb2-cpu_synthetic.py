# MetaBEV (BEV-Evolving decoder + M²oE, switched-modality training) on the synthetic nuScenes
# world on 2 CPU cores: same branches, heads, data and schedule as the BEVFusion baseline
# configs/bevfusion/bevfusion_lidar-cam_tiny_1xb2-cpu_synthetic.py; only the fuser and the
# modality drop differ (the bases are listed here, not inherited through that config, to keep
# _base_ chains at depth <= 2).
_base_ = [
    '../_base_/datasets/synthetic-nus-bev.py', '../_base_/models/bevfusion-tiny_synthetic.py',
    '../_base_/schedules/cosine-12e_synthetic.py', '../_base_/default_runtime.py'
]

model = dict(
    type='MetaBEV',
    modality_drop=(0.25, 0.25),
    fuser=dict(_delete_=True, type='BEVEvolvingDecoder',
               in_channels=[{{_base_.camera_bev_channels}}, {{_base_.lidar_bev_channels}}],
               embed_dims={{_base_.fused_channels}}, bev_shape=(64, 64), num_layers=2,
               num_heads=4, num_points=4, ffn_channels=128, moe_layers=(1, ),
               moe=dict(num_experts=4, top_k=2), tasks=('det', 'seg')))
# switched-modality training leaves a branch without gradient in some iterations
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
