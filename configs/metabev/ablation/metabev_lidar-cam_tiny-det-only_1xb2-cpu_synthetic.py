# M²oE ablation, single-task detection: the tiny MetaBEV of
# ../metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py (same data, schedule, modality drop) with the
# map head removed and a plain decoder (no task conflict, so no M²oE). Evaluated with the
# devkit's detection metric only.
_base_ = [
    '../../_base_/datasets/synthetic-nus-bev.py', '../../_base_/models/metabev-tiny_synthetic.py',
    '../../_base_/schedules/cosine-12e_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(seg_head=None, fuser=dict(moe_layers=()))
# the dataset base's detection metric alone (there is no map prediction to score)
val_evaluator = [
    dict(type='NuScenesMetric', data_root='data/synthetic/nuscenes/',
         ann_file='data/synthetic/nuscenes/nuscenes_infos_val.pkl', metric='bbox')
]
test_evaluator = val_evaluator
# switched-modality training leaves a branch without gradient in some iterations
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
