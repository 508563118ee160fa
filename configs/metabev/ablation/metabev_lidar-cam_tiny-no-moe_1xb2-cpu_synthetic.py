# M²oE ablation, multi-task without MoE: the tiny MetaBEV of
# ../metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py (same data, schedule, modality drop, both
# heads) with a plain FFN in every decoder layer: one fused BEV map serves both tasks.
_base_ = [
    '../../_base_/datasets/synthetic-nus-bev.py', '../../_base_/models/metabev-tiny_synthetic.py',
    '../../_base_/schedules/cosine-12e_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(fuser=dict(moe_layers=()))
# switched-modality training leaves a branch without gradient in some iterations
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
