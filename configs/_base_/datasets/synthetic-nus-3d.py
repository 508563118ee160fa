# The synthetic nuScenes world (tools/create_data.py synthetic + nuscenes) read by mmdet3d's own
# NuScenesDataset and evaluated by mmdet3d's NuScenesMetric, i.e. the nuScenes devkit's
# DetectionEval on v1.0-mini (mini_train scenes train, mini_val scenes evaluate). LiDAR only.
#
#   python tools/create_data.py synthetic --out data/synthetic
#   python tools/create_data.py nuscenes --root-path data/synthetic/nuscenes --version v1.0-mini
#
# The world is flat (ground at z = -1.84 m in the LIDAR_TOP frame) and its 32-beam LiDAR reaches
# 70 m; the devkit evaluates boxes up to 50 m (30-40 m for small classes), so +-51.2 m covers
# every evaluated box.
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
class_names = [
    'car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'barrier'
]
# the devkit's version and split come from here (the info files' own metainfo never overrides
# NuScenesDataset's class-level default 'v1.0-trainval')
metainfo = dict(classes=class_names, version='v1.0-mini')
dataset_type = 'NuScenesDataset'
data_root = 'data/synthetic/nuscenes/'
input_modality = dict(use_lidar=True, use_camera=False)
cameras = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP', img='',
                   **{cam: f'samples/{cam}' for cam in cameras})
backend_args = None
# points: x, y, z, intensity, ring -> after sweep accumulation x, y, z, intensity, time lag
sweeps_num = 10
load_keyframe = dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5,
                     backend_args=backend_args)
# training takes a random sweeps_num of the infos' (up to 40) sweeps, evaluation the nearest
# sweeps_num (test_mode): two evaluations of one checkpoint give the same scores
load_sweeps = dict(type='LoadPointsFromMultiSweeps', sweeps_num=sweeps_num,
                   use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True, remove_close=True,
                   backend_args=backend_args)
load_test_sweeps = dict(load_sweeps, test_mode=True)
load_points = [load_keyframe, load_sweeps]
train_pipeline = load_points + [
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='GlobalRotScaleTrans', rot_range=[-0.3925, 0.3925], scale_ratio_range=[0.95, 1.05],
         translation_std=[0, 0, 0]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])
]
test_pipeline = [
    load_keyframe, load_test_sweeps,
    dict(type='MultiScaleFlipAug3D', img_scale=(1333, 800), pts_scale_ratio=1, flip=False,
         transforms=[
             dict(type='GlobalRotScaleTrans', rot_range=[0, 0], scale_ratio_range=[1., 1.],
                  translation_std=[0, 0, 0]),
             dict(type='RandomFlip3D'),
             dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range)
         ]),
    dict(type='Pack3DDetInputs', keys=['points'])
]
_dataset = dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                modality=input_modality, data_prefix=data_prefix, box_type_3d='LiDAR',
                backend_args=backend_args)
train_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(ann_file='nuscenes_infos_train.pkl', pipeline=train_pipeline, test_mode=False,
                 **_dataset))
val_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(ann_file='nuscenes_infos_val.pkl', pipeline=test_pipeline, test_mode=True,
                 **_dataset))
test_dataloader = val_dataloader

val_evaluator = dict(type='NuScenesMetric', data_root=data_root,
                     ann_file=data_root + 'nuscenes_infos_val.pkl', metric='bbox',
                     backend_args=backend_args)
test_evaluator = val_evaluator
