"""nuScenes naming conventions shared by the converters, loaders, views and the synthetic world."""

#: The six nuScenes cameras in mmdet3d's / BEVFusion's order (the order of ``cam2img`` and
#: ``lidar2cam`` views).
NUSCENES_CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
                    'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')

#: The ten nuScenes detection classes in mmdet3d's order
#: (``NuScenesDataset.METAINFO['classes']``; label = index).
NUSCENES_DETECTION_CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle',
                              'bicycle', 'motorcycle', 'pedestrian', 'traffic_cone', 'barrier')
