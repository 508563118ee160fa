# M²oE ablation, multi-task with hierarchical-experts M²oE (HE-MoE): the tiny MetaBEV of
# ../metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py with, in the second decoder layer, 2 shared
# experts plus 2 private to each task (6 in all); each task's top-2 router chooses among its 4
# (the shared ones and its own), as many as RE-MoE's routers see. Switch balancing loss at
# weight 0.01, as the RE-MoE ablation config.
_base_ = [
    '../../_base_/datasets/synthetic-nus-bev.py', '../../_base_/models/metabev-tiny_synthetic.py',
    '../../_base_/schedules/cosine-12e_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(moe_balance_weight=0.01,
             fuser=dict(moe=dict(variant='he', num_experts=2, num_task_experts=2, top_k=2,
                                 balance_loss='switch')))
# switched-modality training leaves a branch without gradient in some iterations
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
