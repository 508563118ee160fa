# Real Occ3D-nuScenes for camera semantic occupancy (six cameras -> 200 x 200 x 16 voxels of
# 0.4 m over [-40, -40, -1, 40, 40, 5.4] m in the ego frame, 18 labels, 17 = free), BEVDet's
# data settings: 1600 x 900 -> 704 x 256 network input (train resize 0.38-0.55, crop, per-view
# flip, rotation +-5.4 deg; test resize 704 / 1600 = 0.44, bottom kept), the BEV flip done on the
# occupancy grid (OccupancyFrame, x and y with probability 0.5; lidar2occ = flip @ lidar2ego), the
# keyframe LiDAR scan projected into the augmented views as LSS depth supervision
# (MultiViewDepthGT, training only; the points are never augmented nor fed to the model).
# Evaluation: Occ3D's mIoU inside the camera visibility mask (Occ3DMetric).
#
#   data/nuscenes/           the nuScenes dataroot (samples/, sweeps/, v1.0-trainval/)
#   data/occ3d/gts/          Occ3D-nuScenes: gts/<scene>/<sample token>/labels.npz
#   python tools/create_data.py occ3d --root-path data/nuscenes --version v1.0-trainval \
#       --occ3d-path data/occ3d     # -> data/occ3d/occ3d_infos_{train,val}.pkl
#
# The info files are read as '../occ3d/occ3d_infos_*.pkl' relative to data_root (mmengine joins
# ann_file to data_root); '..' resolves physically, so if data/nuscenes is a symlink write the
# infos beside the nuScenes tables instead (--out-dir data/nuscenes) and set ann_file to
# 'occ3d_infos_{train,val}.pkl'.
#
# Packed sample (Pack3DDetBEVInputs):
#   inputs['img'] (6, 3, 256, 704) float32 BGR 0-255; data_sample.gt_occ (200, 200, 16) uint8,
#   data_sample.mask_camera / mask_lidar (200, 200, 16) bool (train and test); (train)
#   data_sample.gt_depth (6, 16, 44) float32 LiDAR depth per stride-16 feature cell; metainfo
#   cam2img / lidar2cam / lidar2img / cam2lidar / img_aug_matrix (6, 4, 4), lidar2occ (4, 4),
#   occ_flip (bool, bool).
dataset_type = 'Occ3DDataset'  # NuScenesBEVDataset that requires occ3d_path, keeps boxless frames
data_root = 'data/nuscenes/'
occ3d_root = 'data/occ3d/'  # holding gts/; the infos' occ3d_path is relative to it
ann_prefix = '../occ3d/'  # the info files' folder relative to data_root (see above)
occ_grid = 'occ3d-nuscenes'  # OccupancyGrid.occ3d_nuscenes()
metainfo = dict(version='v1.0-trainval')
input_modality = dict(use_lidar=True, use_camera=True)  # LiDAR: depth supervision only
cameras = ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT']
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP', img='',
                   **{cam: f'samples/{cam}' for cam in cameras})
backend_args = None

# images: 1600 x 900 cameras -> 704 x 256 network input (BEVDet: resize 0.44 + [-0.06, 0.11])
image_size = (900, 1600)  # (H, W) of the stored images
final_dim = (256, 704)  # (H, W) of the network input
train_resize_lim = (0.38, 0.55)
test_resize_lim = (0.44, 0.44)
bot_pct_lim = (0.0, 0.0)  # share of the resized height cut at the bottom (train draw)
rot_lim = (-5.4, 5.4)  # degrees
depth_downsample = 16  # stride of the R50 + SECONDFPN features the paper configs lift (16 x 44)

# the keyframe scan only (x, y, z): MultiViewDepthGT takes every loaded point (max_time_lag=None;
# there is no sweep and no time-lag column)
load_keyframe = dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=3,
                     backend_args=backend_args)
load_views = dict(type='LoadMultiViewImages', cameras=cameras, backend_args=backend_args)
load_occ = dict(type='LoadOcc3DGT', occ3d_root=occ3d_root, grid=occ_grid,
                backend_args=backend_args)
train_pipeline = [
    load_keyframe, load_views,
    dict(type='ImageAug3D', final_dim=final_dim, resize_lim=train_resize_lim,
         bot_pct_lim=bot_pct_lim, rot_lim=rot_lim, rand_flip=True, is_train=True),
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
_dataset = dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                modality=input_modality, data_prefix=data_prefix, box_type_3d='LiDAR',
                filter_empty_gt=False, backend_args=backend_args)
train_dataloader = dict(
    batch_size=4, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(ann_file=ann_prefix + 'occ3d_infos_train.pkl', pipeline=train_pipeline,
                 test_mode=False, **_dataset))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(ann_file=ann_prefix + 'occ3d_infos_val.pkl', pipeline=test_pipeline,
                 test_mode=True, **_dataset))
test_dataloader = val_dataloader

val_evaluator = dict(type='Occ3DMetric', use_camera_mask=True)
test_evaluator = val_evaluator
