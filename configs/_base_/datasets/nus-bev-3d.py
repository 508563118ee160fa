# Real nuScenes for multi-modal BEV models (camera + LiDAR -> 3D detection and BEV map
# segmentation), BEVFusion's data settings and training recipe: six cameras (1600 x 900 ->
# 704 x 256, resize 0.38-0.55 in training, 0.48 at test), keyframe + 9 LiDAR sweeps, [-54, 54] m,
# detection GT and six-class map GT rasterised through NuScenesMap ([-50, 50] m at 0.5 m),
# GT-paste (ObjectSample from the GT database, before any augmentation; points only, the
# images are not pasted, as in BEVFusion), one global LiDAR augmentation for points, boxes and
# map (rotation +-pi/4, scale 0.9-1.1, translation std 0.5 m, BEV flips; lidar_aug_matrix) and
# per-view image augmentation (img_aug_matrix). The class order is CenterPoint's (CenterHead's
# task groups assume it). The method configs wrap the training set in CBGSDataset and switch
# GT-paste off for the last epochs (train_pipeline_no_paste, WrappedPipelineSwitchHook).
# The synthetic world's base (synthetic-nus-bev.py) derives from this one.
#
#   python tools/create_data.py nuscenes --root-path data/nuscenes --version v1.0-trainval \
#       --max-sweeps 10     # infos + GT database (nuscenes_dbinfos_train.pkl, nuscenes_gt_database/)
#
# Packed sample (Pack3DDetBEVInputs; see README "Multi-modal data contract"):
#   inputs['img'] (6, 3, 256, 704) float32 BGR 0-255, inputs['points'] (P, 5) x y z intensity
#   time_lag; data_sample.gt_masks_bev (6, 200, 200) uint8; metainfo cam2img / lidar2cam /
#   lidar2img / cam2lidar / img_aug_matrix (6, 4, 4), lidar_aug_matrix (4, 4).
# Evaluation: the devkit's DetectionEval (NuScenesMetric) and BEV map IoU.
point_cloud_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]
class_names = [
    'car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle',
    'bicycle', 'pedestrian', 'traffic_cone'
]
map_classes = ['drivable_area', 'ped_crossing', 'walkway', 'stop_line', 'carpark_area', 'divider']
bev_xbound = [-50.0, 50.0, 0.5]  # BEV map GT (200 x 200), LiDAR frame, x index first
bev_ybound = [-50.0, 50.0, 0.5]
# the devkit's version and split come from here (the info files' own metainfo never overrides
# NuScenesDataset's class-level default)
metainfo = dict(classes=class_names, version='v1.0-trainval')
dataset_type = 'NuScenesBEVDataset'  # mmdet3d's NuScenesDataset, key errors name the sample
data_root = 'data/nuscenes/'
input_modality = dict(use_lidar=True, use_camera=True)
cameras = ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT']
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP', img='',
                   **{cam: f'samples/{cam}' for cam in cameras})
backend_args = None

# images: 1600 x 900 cameras -> 704 x 256 network input
image_size = (900, 1600)  # (H, W) of the stored images
final_dim = (256, 704)  # (H, W) of the network input
train_resize_lim = (0.38, 0.55)
test_resize_lim = (0.48, 0.48)
bot_pct_lim = (0.0, 0.0)  # share of the resized height cut at the bottom (train draw)
rot_lim = (-5.4, 5.4)  # degrees
# points: keyframe x, y, z, intensity, ring + 9 sweeps (BEVFusion's) -> x, y, z, intensity,
# time_lag
sweeps_num = 9
point_load_dim = 5
point_dims = 5

load_keyframe = dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=point_load_dim,
                     use_dim=point_load_dim, backend_args=backend_args)
# training takes a random sweeps_num of the nearest 10 sweeps (sweep_pool, BEVFusion's 9 of 10,
# whether the infos hold 10 or 40), evaluation the nearest sweeps_num (test_mode): two
# evaluations of one checkpoint give the same scores
load_sweeps = dict(type='LoadSweepsWithRing', sweeps_num=sweeps_num, load_dim=point_load_dim,
                   keep_ring=False, pad_empty_sweeps=True, remove_close=True,
                   backend_args=backend_args)
load_test_sweeps = dict(load_sweeps, test_mode=True)
load_views = dict(type='LoadMultiViewImages', cameras=cameras, backend_args=backend_args)
load_map = dict(type='LoadBEVMapGT', data_root=data_root, classes=map_classes, xbound=bev_xbound,
                ybound=bev_ybound)
# GT-paste (BEVFusion's ObjectPaste settings): up to sample_groups objects per class from the
# GT database of the training split, objects with >= 5 points, BEV collision test against the
# sample's boxes; GTPasteDataBaseSampler is mmdet3d's DataBaseSampler with int64 labels (its
# np.long fails under numpy >= 1.24)
db_sampler = dict(
    type='GTPasteDataBaseSampler', data_root=data_root,
    info_path=data_root + 'nuscenes_dbinfos_train.pkl', rate=1.0,
    prepare=dict(filter_by_difficulty=[-1],
                 filter_by_min_points={name: 5 for name in class_names}),
    classes=class_names,
    sample_groups=dict(car=2, truck=3, construction_vehicle=7, bus=4, trailer=6, barrier=2,
                       motorcycle=6, bicycle=6, pedestrian=2, traffic_cone=2),
    points_loader=dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=point_dims,
                       use_dim=point_dims, backend_args=backend_args),
    backend_args=backend_args)
gt_paste = dict(type='ObjectSample', db_sampler=db_sampler)
train_pipeline = [
    load_keyframe, load_sweeps, load_views,
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    gt_paste,  # in the original LiDAR frame, where the database boxes are
    dict(type='GlobalAugmentAll', rot_range=[-0.78539816, 0.78539816],
         scale_ratio_range=[0.9, 1.1],
         translation_std=[0.5, 0.5, 0.5], flip_ratio_bev_horizontal=0.5,
         flip_ratio_bev_vertical=0.5, bev_xbound=bev_xbound, bev_ybound=bev_ybound),
    load_map,  # after the augmentation: rasterised exactly in the augmented frame
    dict(type='ImageAug3D', final_dim=final_dim, resize_lim=train_resize_lim,
         bot_pct_lim=bot_pct_lim, rot_lim=rot_lim, rand_flip=True, is_train=True),
    # LiDAR depth per stride-8 feature cell of every augmented view (BEVDepth's depth
    # supervision of the LSS bins; supervision only, also for samples whose LiDAR is dropped)
    dict(type='MultiViewDepthGT', downsample=8, max_time_lag=0.0),
    dict(type='FastPointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='FastPointShuffle'),
    dict(type='Pack3DDetBEVInputs',
         keys=['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d', 'gt_masks_bev', 'gt_depth'])
]
# the recipe's last epochs (and the fused fine-tuning): the same pipeline without GT-paste
train_pipeline_no_paste = [t for t in train_pipeline if t['type'] != 'ObjectSample']
test_pipeline = [
    load_keyframe, load_test_sweeps, load_views, load_map,
    dict(type='ImageAug3D', final_dim=final_dim, resize_lim=test_resize_lim,
         bot_pct_lim=(0.0, 0.0), is_train=False),
    dict(type='FastPointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetBEVInputs', keys=['points', 'img', 'gt_masks_bev'])
]
_dataset = dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                modality=input_modality, data_prefix=data_prefix, box_type_3d='LiDAR',
                backend_args=backend_args)
train_dataloader = dict(
    batch_size=4, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(ann_file='nuscenes_infos_train.pkl', pipeline=train_pipeline, test_mode=False,
                 **_dataset))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(ann_file='nuscenes_infos_val.pkl', pipeline=test_pipeline, test_mode=True,
                 **_dataset))
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='NuScenesMetric', data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl',
         metric='bbox'),
    dict(type='BEVMapSegMetric', class_names=map_classes),
]
test_evaluator = val_evaluator
