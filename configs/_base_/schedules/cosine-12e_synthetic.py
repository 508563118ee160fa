# The synthetic world's CPU schedule, derived from BEVFusion's cyclic-20e.py (AdamW, weight decay
# 0.01, gradient clipping at 35): lr 3e-3 with a 50-iteration linear warm-up, then a cosine
# decay to lr / 100 over 12 epochs (40 iterations of batch 2 each on the default world); one
# process x 2 samples. Evaluates once, at the end.
_base_ = ['./cyclic-20e.py']

max_epochs = 12
lr = 3e-3
optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=lr * 1e-2, begin=0,
         end=max_epochs, by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(base_batch_size=2)  # 1 process x 2 samples
