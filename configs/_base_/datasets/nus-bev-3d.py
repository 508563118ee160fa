# Real nuScenes for multi-modal BEV models (camera + LiDAR -> 3D detection and BEV map
# segmentation), BEVFusion's data settings: 1600 x 900 images -> 704 x 256 (resize 0.38-0.55
# in training, 0.48 at test), 10 LiDAR sweeps, [-54, 54] m, map GT [-50, 50] m at 0.5 m.
# Same transforms and packed layout as the synthetic world (synthetic-nus-bev.py); only sizes,
# paths, version and the class order (CenterPoint's, which CenterHead's task groups assume)
# differ.
#
#   python tools/create_data.py nuscenes --root-path data/nuscenes --version v1.0-trainval \
#       --max-sweeps 10
_base_ = ['./synthetic-nus-bev.py']

point_cloud_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]
class_names = [
    'car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle',
    'bicycle', 'pedestrian', 'traffic_cone'
]
metainfo = dict(classes=class_names, version='v1.0-trainval')
data_root = 'data/nuscenes/'
image_size = (900, 1600)
final_dim = (256, 704)
train_resize_lim = (0.38, 0.55)
test_resize_lim = (0.48, 0.48)
bot_pct_lim = (0.0, 0.0)
rot_lim = (-5.4, 5.4)
map_classes = {{_base_.map_classes}}
bev_xbound = {{_base_.bev_xbound}}
bev_ybound = {{_base_.bev_ybound}}

backend_args = None
cameras = ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT']
load_points = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5,
         backend_args=backend_args),
    dict(type='LoadSweepsWithRing', sweeps_num=10, load_dim=5, keep_ring=False,
         pad_empty_sweeps=True, remove_close=True, backend_args=backend_args),
]
load_images = [dict(type='LoadMultiViewImages', cameras=cameras, backend_args=backend_args)]
load_map = [dict(type='LoadBEVMapGT', data_root=data_root, classes=map_classes,
                 xbound=bev_xbound, ybound=bev_ybound)]
train_pipeline = load_points + load_images + [
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='GlobalAugmentAll', rot_range=[-0.3925, 0.3925], scale_ratio_range=[0.9, 1.1],
         translation_std=[0.5, 0.5, 0.5], flip_ratio_bev_horizontal=0.5,
         flip_ratio_bev_vertical=0.5, bev_xbound=bev_xbound, bev_ybound=bev_ybound),
] + load_map + [
    dict(type='ImageAug3D', final_dim=final_dim, resize_lim=train_resize_lim,
         bot_pct_lim=bot_pct_lim, rot_lim=rot_lim, rand_flip=True, is_train=True),
    dict(type='FastPointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='FastPointShuffle'),
    dict(type='Pack3DDetBEVInputs',
         keys=['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d', 'gt_masks_bev'])
]
test_pipeline = load_points + load_images + load_map + [
    dict(type='ImageAug3D', final_dim=final_dim, resize_lim=test_resize_lim,
         bot_pct_lim=(0.0, 0.0), is_train=False),
    dict(type='FastPointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetBEVInputs', keys=['points', 'img', 'gt_masks_bev'])
]
train_dataloader = dict(
    batch_size=4, num_workers=4,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=4,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='NuScenesMetric', data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl',
         metric='bbox'),
    dict(type='BEVMapSegMetric', class_names=map_classes),
]
test_evaluator = val_evaluator
