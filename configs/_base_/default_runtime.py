# Runtime shared by every Drive3D config: our scope (mmdet3d and mmdet modules stay reachable),
# mmengine's standard hooks, CPU-friendly defaults. Machine-dependent switches (NCCL vs Gloo,
# the DDP wrapper for CPU modules) are made by tools/train.py, not here.
default_scope = 'mmdet3d_plugin'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=-1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='Det3DVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

# every training logs its scalars (losses, lr, metrics) to <work_dir>/<timestamp>/vis_data/ as
# JSON (LocalVisBackend) and as TensorBoard events: `tensorboard --logdir work_dirs` shows every
# run's curves (the tensorboard package is in requirements/optional.txt)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='Det3DLocalVisualizer', vis_backends=vis_backends, name='visualizer')

log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
