# SparseOcc's (and the camera occupancy baselines') schedule: AdamW lr 1e-4, weight decay 0.01,
# gradient clipping at 35, 24 epochs with the lr x0.1 at epochs 20 and 23, no warm-up; 8 GPUs x
# 1 sample (base_batch_size 8: tools/train.py --auto-scale-lr scales the lr linearly for another
# total batch). Norm layers and the query embeddings are not weight-decayed.
lr = 1e-4
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=lr, weight_decay=0.01, eps=1e-8),
    clip_grad=dict(max_norm=35, norm_type=2),
    paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={
        'query_feat': dict(decay_mult=0.0), 'query_embed': dict(decay_mult=0.0),
        'level_embed': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='MultiStepLR', milestones=[20, 23], gamma=0.1, begin=0, end=24, by_epoch=True)
]
train_cfg = dict(by_epoch=True, max_epochs=24, val_interval=24)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(enable=False, base_batch_size=8)
