# Tiny config for the tool tests: trains ToyRegressor (tests/test_tools/toy_modules.py).
custom_imports = dict(imports=['toy_modules'], allow_failed_imports=False)
default_scope = 'mmdet3d_plugin'

model = dict(type='ToyRegressor')
_loader = dict(num_workers=0, collate_fn=dict(type='pseudo_collate'))
train_dataloader = dict(batch_size=8, dataset=dict(type='ToyRegressionDataset'),
                        sampler=dict(type='DefaultSampler', shuffle=True), **_loader)
val_dataloader = dict(batch_size=8, dataset=dict(type='ToyRegressionDataset', num_samples=16, seed=1),
                      sampler=dict(type='DefaultSampler', shuffle=False), **_loader)
test_dataloader = val_dataloader
val_evaluator = dict(type='ToyMSE')
test_evaluator = val_evaluator

train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1),
    logger=dict(type='LoggerHook', interval=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0)
log_level = 'INFO'
