# SparseOcc on the synthetic Occ3D world on CPU: the dense baseline's data, camera branch, lift
# and schedule (configs/occ_baseline/occ-baseline_cam_tiny_1xb2-cpu_synthetic.py), with the
# sparse latent, diffuser, pyramid and Mask2Former head in place of the dense 3D encoder and head.
#
#   python tools/create_data.py synthetic --out data/synthetic
#   python tools/create_data.py occ3d --root-path data/synthetic/nuscenes \
#       --occ3d-path data/synthetic/occ3d
#   python tools/train.py configs/sparseocc/sparseocc_cam_tiny_1xb2-cpu_synthetic.py
_base_ = [
    '../_base_/datasets/synthetic-occ3d.py', '../_base_/models/sparseocc-tiny_synthetic.py',
    '../_base_/schedules/cosine-12e_synthetic.py', '../_base_/default_runtime.py'
]
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
