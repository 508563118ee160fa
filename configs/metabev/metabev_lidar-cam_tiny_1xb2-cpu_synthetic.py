# MetaBEV (BEV-Evolving decoder + M²oE, switched-modality training) on the synthetic nuScenes
# world on 2 CPU cores -- the model `make demo` trains: the tiny MetaBEV of
# ../_base_/models/metabev-tiny_synthetic.py (one decoder layer with the routing-experts M²oE,
# modality drop 0.25 / 0.25) with the same branches, heads, data and schedule as the BEVFusion
# baseline configs/bevfusion/bevfusion_lidar-cam_tiny_1xb2-cpu_synthetic.py; only the fuser and
# the modality drop differ.
_base_ = [
    '../_base_/datasets/synthetic-nus-bev.py', '../_base_/models/metabev-tiny_synthetic.py',
    '../_base_/schedules/cosine-12e_synthetic.py', '../_base_/default_runtime.py'
]

# switched-modality training leaves a branch without gradient in some iterations
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
