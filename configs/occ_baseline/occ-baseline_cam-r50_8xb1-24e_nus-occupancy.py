# The dense camera occupancy baseline on nuScenes-Occupancy at paper size (SparseOcc's dense
# comparison): ResNet-50 + SECONDFPN, 256 x 704, LSS into 128 x 128 x 10, dense 3D ResNet + FPN,
# x4 upsampled logits on the 512 x 512 x 40 grid, 24 epochs on 8 GPUs x 1 sample.
#
#   bash tools/dist_train.sh configs/occ_baseline/occ-baseline_cam-r50_8xb1-24e_nus-occupancy.py 8
_base_ = [
    '../_base_/datasets/nus-occupancy.py', '../_base_/models/occ-dense-r50_nus-occupancy.py',
    '../_base_/schedules/step-24e_occupancy.py', '../_base_/default_runtime.py'
]
train_dataloader = dict(batch_size=1)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
