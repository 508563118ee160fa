# SparseOcc on Occ3D-nuScenes at paper size: the nuScenes-Occupancy model lifted into 100 x 100 x 8
# voxels of 0.8 m over Occ3D's ego-frame extent, decoded to 200 x 200 x 16 (18 labels, 17 =
# free), supervised inside the camera mask; 24 epochs on 8 GPUs x 1 sample.
#
#   bash tools/dist_train.sh configs/sparseocc/sparseocc_cam-r50_8xb1-24e_occ3d.py 8
_base_ = [
    '../_base_/datasets/occ3d-nus.py', '../_base_/models/sparseocc-r50_nus-occupancy.py',
    '../_base_/schedules/step-24e_occupancy.py', '../_base_/default_runtime.py'
]
occ_range = [-40.0, -40.0, -1.0, 40.0, 40.0, 5.4]  # Occ3D-nuScenes, ego frame
model = dict(
    free_label=17,
    view_transform=dict(xbound=[occ_range[0], occ_range[3], 0.8],
                        ybound=[occ_range[1], occ_range[4], 0.8],
                        zbound=[occ_range[2], occ_range[5], 0.8]),
    occ_head=dict(num_classes=18, grid_shape=[200, 200, 16], mask_key='mask_camera'))
train_dataloader = dict(batch_size=1)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
