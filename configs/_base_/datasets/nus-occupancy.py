# Real nuScenes-Occupancy (OpenOccupancy) for camera semantic scene completion: six cameras ->
# 512 x 512 x 40 voxels of 0.2 m over [-51.2, -51.2, -5, 51.2, 51.2, 3] m in the LiDAR frame
# (0 = free, 1..16 classes, 255 = noise, ignored), the image settings of occ3d-nus.py (BEVDet's
# 704 x 256 input and augmentation; OpenOccupancy's own camera baselines use 1600 x 896, change
# final_dim and the resize limits for them), the BEV flip done on the grid (OccupancyFrame;
# lidar2occ = flip, the grid being in the LiDAR frame), keyframe LiDAR depth supervision
# (MultiViewDepthGT, training only). Evaluation: OpenOccupancy's SC IoU and SSC mIoU (SSCMetric,
# noise voxels dropped).
#
#   data/nuscenes/               the nuScenes dataroot (samples/, sweeps/, v1.0-trainval/)
#   data/nuScenes-Occupancy/     scene_<scene token>/occupancy/<lidar token>.npy
#   python tools/create_data.py nuscenes-occupancy --root-path data/nuscenes \
#       --version v1.0-trainval --occ-path data/nuScenes-Occupancy
#       # -> data/nuScenes-Occupancy/nuscenes_occupancy_infos_{train,val}.pkl
#
# The info files are read as '../nuScenes-Occupancy/...' relative to data_root ('..' resolves
# physically: with a symlinked data/nuscenes write them there with --out-dir data/nuscenes and
# set ann_file to 'nuscenes_occupancy_infos_{train,val}.pkl').
#
# Packed sample (Pack3DDetBEVInputs):
#   inputs['img'] (6, 3, 256, 704) float32 BGR 0-255; data_sample.gt_occ (512, 512, 40) uint8
#   (train and test); (train) data_sample.gt_depth (6, 16, 44) float32; metainfo cam2img /
#   lidar2cam / lidar2img / cam2lidar / img_aug_matrix (6, 4, 4), lidar2occ (4, 4), occ_flip.
dataset_type = 'NuScenesOccupancyDataset'  # NuScenesBEVDataset that requires occ_path
data_root = 'data/nuscenes/'
occ_root = 'data/nuScenes-Occupancy/'  # the infos' occ_path is relative to it
ann_prefix = '../nuScenes-Occupancy/'  # the info files' folder relative to data_root
occ_grid = 'nuscenes-occupancy'  # OccupancyGrid.nuscenes_occupancy()
metainfo = dict(version='v1.0-trainval')
input_modality = dict(use_lidar=True, use_camera=True)  # LiDAR: depth supervision only
cameras = ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT']
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP', img='',
                   **{cam: f'samples/{cam}' for cam in cameras})
backend_args = None

image_size = (900, 1600)  # (H, W) of the stored images
final_dim = (256, 704)  # (H, W) of the network input
train_resize_lim = (0.38, 0.55)
test_resize_lim = (0.44, 0.44)
bot_pct_lim = (0.0, 0.0)
rot_lim = (-5.4, 5.4)  # degrees
depth_downsample = 16  # stride of the R50 + SECONDFPN features the paper configs lift (16 x 44)

load_keyframe = dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=3,
                     backend_args=backend_args)
load_views = dict(type='LoadMultiViewImages', cameras=cameras, backend_args=backend_args)
load_occ = dict(type='LoadNuScenesOccupancyGT', occ_root=occ_root, grid=occ_grid,
                backend_args=backend_args)
train_pipeline = [
    load_keyframe, load_views,
    dict(type='ImageAug3D', final_dim=final_dim, resize_lim=train_resize_lim,
         bot_pct_lim=bot_pct_lim, rot_lim=rot_lim, rand_flip=True, is_train=True),
    dict(type='MultiViewDepthGT', downsample=depth_downsample, max_time_lag=None),
    load_occ,
    dict(type='OccupancyFrame', grid=occ_grid, flip_x_ratio=0.5, flip_y_ratio=0.5),
    dict(type='Pack3DDetBEVInputs', keys=['img', 'gt_occ', 'gt_depth'])
]
test_pipeline = [
    load_views,
    dict(type='ImageAug3D', final_dim=final_dim, resize_lim=test_resize_lim,
         bot_pct_lim=(0.0, 0.0), is_train=False),
    load_occ,
    dict(type='OccupancyFrame', grid=occ_grid),
    dict(type='Pack3DDetBEVInputs', keys=['img', 'gt_occ'])
]
_dataset = dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                modality=input_modality, data_prefix=data_prefix, box_type_3d='LiDAR',
                filter_empty_gt=False, backend_args=backend_args)
train_dataloader = dict(
    batch_size=4, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(ann_file=ann_prefix + 'nuscenes_occupancy_infos_train.pkl',
                 pipeline=train_pipeline, test_mode=False, **_dataset))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(ann_file=ann_prefix + 'nuscenes_occupancy_infos_val.pkl',
                 pipeline=test_pipeline, test_mode=True, **_dataset))
test_dataloader = val_dataloader

val_evaluator = dict(type='SSCMetric')
test_evaluator = val_evaluator
