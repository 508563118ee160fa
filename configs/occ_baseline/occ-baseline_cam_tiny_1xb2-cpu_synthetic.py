# The dense camera occupancy baseline on the synthetic Occ3D world on CPU (the role C-CONet
# plays in SparseOcc's paper): tiny camera branch + LSS voxel lift + dense 3D ResNet / FPN +
# occupancy head, trained with the synthetic CPU schedule.
#
#   python tools/create_data.py synthetic --out data/synthetic
#   python tools/create_data.py occ3d --root-path data/synthetic/nuscenes \
#       --occ3d-path data/synthetic/occ3d
#   python tools/train.py configs/occ_baseline/occ-baseline_cam_tiny_1xb2-cpu_synthetic.py
_base_ = [
    '../_base_/datasets/synthetic-occ3d.py', '../_base_/models/occ-dense-tiny_synthetic.py',
    '../_base_/schedules/cosine-12e_synthetic.py', '../_base_/default_runtime.py'
]
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
