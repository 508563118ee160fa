# M²oE ablation, multi-task with routing-experts M²oE (RE-MoE): the tiny MetaBEV of
# ../metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py -- 4 experts shared by both tasks, one top-2
# router per task, in the second decoder layer -- trained with the Switch-Transformer balancing
# loss at weight 0.01 (this code's choice; the paper's is not known).
_base_ = [
    '../../_base_/datasets/synthetic-nus-bev.py', '../../_base_/models/metabev-tiny_synthetic.py',
    '../../_base_/schedules/cosine-12e_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(moe_balance_weight=0.01,
             fuser=dict(moe=dict(variant='re', num_experts=4, top_k=2, balance_loss='switch')))
# switched-modality training leaves a branch without gradient in some iterations
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
