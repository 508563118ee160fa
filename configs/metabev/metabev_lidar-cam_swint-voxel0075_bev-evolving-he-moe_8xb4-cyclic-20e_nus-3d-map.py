# MetaBEV on nuScenes with the hierarchical-experts M²oE (HE-MoE): the paper setting of
# metabev_lidar-cam_swint-voxel0075_bev-evolving-m2oe_8xb4-cyclic-20e_nus-3d-map.py (which uses
# the routing-experts M²oE, RE-MoE: 4 shared experts, a top-2 router per task) with, in the
# same two M²oE layers, 2 shared experts plus 2 private to each task; each task's top-2 router
# chooses among its 4. Expert counts are this code's choice (the paper text available here does
# not fix them); no balancing loss, as the RE config (enable it with
# --cfg-options model.moe_balance_weight=0.01). Not trained with this code.
_base_ = [
    '../_base_/datasets/nus-bev-3d.py', '../_base_/models/metabev_swint-voxel0075_nus.py',
    '../_base_/schedules/cyclic-20e.py', '../_base_/default_runtime.py'
]
model = dict(fuser=dict(moe=dict(variant='he', num_experts=2, num_task_experts=2, top_k=2)))
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
# switched-modality training leaves a branch without gradient in some iterations
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
