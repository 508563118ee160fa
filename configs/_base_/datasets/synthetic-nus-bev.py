# The synthetic nuScenes world for multi-modal BEV models (camera + LiDAR -> 3D detection and BEV
# map segmentation): the real nuScenes base nus-bev-3d.py (six cameras, keyframe + 10 LiDAR
# sweeps, six-class map GT, GlobalAugmentAll + ImageAug3D, the same loaders) with the world's
# data root, version, class order, image and point-cloud sizes and CPU loader settings.
#
#   python tools/create_data.py synthetic --out data/synthetic
#   python tools/create_data.py nuscenes --root-path data/synthetic/nuscenes --version v1.0-mini
#
# Packed sample (Pack3DDetBEVInputs; see README "Multi-modal data contract"):
#   inputs['img'] (6, 3, 128, 352) float32 BGR 0-255, inputs['points'] (P, 5) x y z intensity
#   time_lag; data_sample.gt_masks_bev (6, 200, 200) uint8; (train) data_sample.gt_depth
#   (6, 16, 44) float32 LiDAR depth per feature cell; metainfo cam2img / lidar2cam /
#   lidar2img / cam2lidar / img_aug_matrix (6, 4, 4), lidar_aug_matrix (4, 4).
# Evaluation: the devkit's DetectionEval (NuScenesMetric on v1.0-mini) and BEV map IoU.
_base_ = ['./nus-bev-3d.py']

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
class_names = [
    'car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'barrier'
]
metainfo = dict(classes=class_names, version='v1.0-mini')
data_root = 'data/synthetic/nuscenes/'
backend_args = None

# images: 400 x 225 synthetic cameras -> 352 x 128 network input (BEVFusion: 1600 x 900 ->
# 704 x 256 with resize 0.38-0.55, i.e. 0.86-1.25 times 704 / 1600; here 352 / 400 = 0.88)
image_size = (225, 400)  # (H, W) of the stored images
final_dim = (128, 352)  # (H, W) of the network input
train_resize_lim = (0.86, 1.0)
test_resize_lim = (0.93, 0.93)
bot_pct_lim = (0.0, 0.22)  # share of the resized height cut at the bottom (train draw)

# nus-bev-3d.py's pipelines at these sizes (a base's lists are replaced, not merged); the
# point and image loaders are the base's own (test: the nearest sweeps, test_mode=True)
map_classes = {{_base_.map_classes}}
bev_xbound = {{_base_.bev_xbound}}
bev_ybound = {{_base_.bev_ybound}}
load_keyframe = {{_base_.load_keyframe}}
load_views = {{_base_.load_views}}
load_map = dict(type='LoadBEVMapGT', data_root=data_root, classes=map_classes, xbound=bev_xbound,
                ybound=bev_ybound)
train_pipeline = [
    load_keyframe, {{_base_.load_sweeps}}, load_views,
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='GlobalAugmentAll', rot_range=[-0.3925, 0.3925], scale_ratio_range=[0.95, 1.05],
         translation_std=[0.0, 0.0, 0.0], flip_ratio_bev_horizontal=0.5,
         flip_ratio_bev_vertical=0.5, bev_xbound=bev_xbound, bev_ybound=bev_ybound),
    load_map,  # after the augmentation: rasterised exactly in the augmented frame
    dict(type='ImageAug3D', final_dim=final_dim, resize_lim=train_resize_lim,
         bot_pct_lim=bot_pct_lim, rot_lim={{_base_.rot_lim}}, rand_flip=True, is_train=True),
    # LiDAR depth per image feature cell (stride 8 of the tiny model), keyframe sweep only:
    # the depth supervision of the LSS view transform, after both augmentations
    dict(type='MultiViewDepthGT', downsample=8, max_time_lag=0.0),
    dict(type='FastPointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='FastPointShuffle'),
    dict(type='Pack3DDetBEVInputs',
         keys=['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d', 'gt_masks_bev', 'gt_depth'])
]
test_pipeline = [
    load_keyframe, {{_base_.load_test_sweeps}}, load_views, load_map,
    dict(type='ImageAug3D', final_dim=final_dim, resize_lim=test_resize_lim,
         bot_pct_lim=(0.0, 0.0), is_train=False),
    dict(type='FastPointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetBEVInputs', keys=['points', 'img', 'gt_masks_bev'])
]
_dataset = dict(data_root=data_root, metainfo=metainfo)  # what the dataloaders below override
# no dataloader workers (train and test): on 2 cores, workers preparing the next batch compete
# with the model's two threads; loading in the main process measured ~8 % faster per training
# iteration (1.49-1.54 s vs 1.60-1.71 s over the first epoch of the demo's MetaBEV, 2026-12-02)
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='NuScenesMetric', data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl',
         metric='bbox', backend_args=backend_args),
    dict(type='BEVMapSegMetric', class_names=map_classes),
]
test_evaluator = val_evaluator
