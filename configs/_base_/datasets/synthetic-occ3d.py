# The synthetic world as Occ3D-nuScenes, for camera semantic occupancy: the real base
# occ3d-nus.py (six cameras, 200 x 200 x 16 ego-frame grid, BEVDet image augmentation, grid
# flips in OccupancyFrame, keyframe LiDAR depth supervision, Occ3DMetric in the camera mask) with
# the world's data root, Occ3D root, version, image sizes and CPU loader settings.
#
#   python tools/create_data.py synthetic --out data/synthetic     # nuscenes + occ3d (+ kitti)
#   python tools/create_data.py occ3d --root-path data/synthetic/nuscenes \
#       --occ3d-path data/synthetic/occ3d   # -> data/synthetic/occ3d/occ3d_infos_{train,val}.pkl
#
# (version v1.0-mini and 10 sweeps per info are create_data.py's defaults; the pipelines load no
# sweep.) Packed sample (Pack3DDetBEVInputs):
#   inputs['img'] (6, 3, 128, 352) float32 BGR 0-255; data_sample.gt_occ (200, 200, 16) uint8,
#   mask_camera / mask_lidar (200, 200, 16) bool (train and test); (train) data_sample.gt_depth
#   (6, 16, 44) float32; metainfo cam2img / lidar2cam / lidar2img / cam2lidar / img_aug_matrix
#   (6, 4, 4), lidar2occ (4, 4), occ_flip (bool, bool).
_base_ = ['./occ3d-nus.py']

data_root = 'data/synthetic/nuscenes/'
occ3d_root = 'data/synthetic/occ3d/'
ann_prefix = '../occ3d/'  # data/synthetic/occ3d/ relative to data_root
metainfo = dict(version='v1.0-mini')
backend_args = None

# images: 400 x 225 synthetic cameras -> 352 x 128 network input (the base's BEVDet rule: train
# around 352 / 400 = 0.88 as synthetic-nus-bev.py, test exactly 0.88, bottom kept)
image_size = (225, 400)  # (H, W) of the stored images
final_dim = (128, 352)  # (H, W) of the network input
train_resize_lim = (0.86, 1.0)
test_resize_lim = (0.88, 0.88)
depth_downsample = 8  # 16 x 44 features of the tiny models

# occ3d-nus.py's pipelines at these sizes and roots (a base's lists are replaced, not merged)
occ_grid = {{_base_.occ_grid}}
load_keyframe = {{_base_.load_keyframe}}
load_views = {{_base_.load_views}}
load_occ = dict(type='LoadOcc3DGT', occ3d_root=occ3d_root, grid=occ_grid,
                backend_args=backend_args)
train_pipeline = [
    load_keyframe, load_views,
    dict(type='ImageAug3D', final_dim=final_dim, resize_lim=train_resize_lim,
         bot_pct_lim={{_base_.bot_pct_lim}}, rot_lim={{_base_.rot_lim}}, rand_flip=True,
         is_train=True),
    dict(type='MultiViewDepthGT', downsample=depth_downsample, max_time_lag=None),
    load_occ,
    dict(type='OccupancyFrame', grid=occ_grid, flip_x_ratio=0.5, flip_y_ratio=0.5),
    dict(type='Pack3DDetBEVInputs',
         keys=['img', 'gt_occ', 'mask_camera', 'mask_lidar', 'gt_depth'])
]
test_pipeline = [
    load_views,
    dict(type='ImageAug3D', final_dim=final_dim, resize_lim=test_resize_lim,
         bot_pct_lim=(0.0, 0.0), is_train=False),
    load_occ,
    dict(type='OccupancyFrame', grid=occ_grid),
    dict(type='Pack3DDetBEVInputs', keys=['img', 'gt_occ', 'mask_camera', 'mask_lidar'])
]
# no dataloader workers (as synthetic-nus-bev.py: on 2 cores workers compete with the model)
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file=ann_prefix + 'occ3d_infos_train.pkl',
                 metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file=ann_prefix + 'occ3d_infos_val.pkl',
                 metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

# Occ3D's mIoU in the camera mask (the benchmark's) and, beside it, the semantic scene
# completion metrics over the whole grid (SC IoU occupied vs free, SSC mIoU over the 17 classes;
# OpenOccupancy's definitions on the Occ3D labels), which the SparseOcc claim check reports
val_evaluator = [
    dict(type='Occ3DMetric', use_camera_mask=True),
    dict(type='SSCMetric', num_classes=18, class_names='occ3d', free_index=17,
         ignore_index=255),
]
test_evaluator = val_evaluator
