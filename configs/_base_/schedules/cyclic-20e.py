# BEVFusion's nuScenes schedule: AdamW, 20 epochs, one cycle (lr up x10 over 40 %, then down),
# momentum inverse, gradient clipping at 35. For 8 GPUs x 4 samples (base_batch_size 32): with
# another total batch, tools/train.py --auto-scale-lr makes mmengine multiply the optimizer's lr
# by (GPUs x batch_size) / 32 before the schedulers are built (linear scaling rule).
lr = 2e-4
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=lr, weight_decay=0.01),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    # peak and floor relative to the optimizer's lr (eta_min_ratio), so --auto-scale-lr scales
    # the whole cycle (an absolute eta_min would keep the unscaled 2e-3 peak)
    dict(type='CosineAnnealingLR', T_max=8, eta_min_ratio=10, begin=0, end=8, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=12, eta_min_ratio=1e-4, begin=8, end=20,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=8, eta_min=0.85 / 0.95, begin=0, end=8,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=12, eta_min=1, begin=8, end=20, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=20)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(enable=False, base_batch_size=32)
