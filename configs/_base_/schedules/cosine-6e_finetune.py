# BEVFusion's fused fine-tuning schedule (mit-han-lab/bevfusion's camera + LiDAR configs and
# mmdet3d's projects/BEVFusion lidar-cam config): 6 epochs from the LiDAR-only checkpoint
# (load_from in the method config), AdamW lr 2e-4, weight decay 0.01, gradient clipping at 35
# (cyclic-20e.py's optimizer), a 500-iteration linear warm-up from lr / 3, then a cosine decay to
# lr * 1e-4 over the 6 epochs; momentum (AdamW beta1) cosine 0.95 -> 0.85 over the first 40 %,
# back to 0.95 by the end. 8 GPUs x 4 samples (auto_scale_lr base_batch_size 32).
_base_ = ['./cyclic-20e.py']

max_epochs = 6
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min_ratio=1e-4, begin=0,
         end=max_epochs, by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', eta_min=0.85 / 0.95, begin=0, end=2.4,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', eta_min=1, begin=2.4, end=max_epochs,
         by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
