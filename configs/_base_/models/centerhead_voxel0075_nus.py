# The CenterPoint-style head option of the paper-scale BEVFusion / MetaBEV models (the papers
# report it beside TransFusion): six task groups on the 180 x 180 BEV map (1/8 of the 0.075 m
# voxel grid of bevfusion_swint-voxel0075_nus.py, whose numbers it repeats: a base cannot read a
# sibling base). Not a model by itself: the *_centerhead_* top-level configs swap it in with
#   model = dict(bbox_head=dict(_delete_=True, **_base_.centerhead['bbox_head']), ...)
# The flattened task order is nus-bev-3d.py's class order, as CenterHead requires.
centerhead = dict(
    bbox_head=dict(
        type='CenterHead', in_channels=512,
        tasks=[dict(num_class=1, class_names=['car']),
               dict(num_class=2, class_names=['truck', 'construction_vehicle']),
               dict(num_class=2, class_names=['bus', 'trailer']),
               dict(num_class=1, class_names=['barrier']),
               dict(num_class=2, class_names=['motorcycle', 'bicycle']),
               dict(num_class=2, class_names=['pedestrian', 'traffic_cone'])],
        common_heads=dict(reg=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
        share_conv_channel=64,
        bbox_coder=dict(type='CenterPointBBoxCoder', pc_range=[-54.0, -54.0],
                        post_center_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0],
                        max_num=500, score_threshold=0.1, out_size_factor=8,
                        voxel_size=[0.075, 0.075], code_size=9),
        separate_head=dict(type='SeparateHead', init_bias=-2.19, final_kernel=3),
        loss_cls=dict(type='mmdet.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(type='mmdet.L1Loss', reduction='mean', loss_weight=0.25),
        norm_bbox=True),
    train_cfg=dict(pts=dict(
        grid_size=[1440, 1440, 40], voxel_size=[0.075, 0.075, 0.2], out_size_factor=8,
        dense_reg=1, gaussian_overlap=0.1, max_objs=500, min_radius=2,
        code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2],
        point_cloud_range=[-54.0, -54.0, -5.0, 54.0, 54.0, 3.0])),
    test_cfg=dict(pts=dict(
        post_center_limit_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0], max_per_img=500,
        max_pool_nms=False, min_radius=[4, 12, 10, 1, 0.85, 0.175], score_threshold=0.1,
        out_size_factor=8, voxel_size=[0.075, 0.075], nms_type='rotate', pre_max_size=1000,
        post_max_size=83, nms_thr=0.2, pc_range=[-54.0, -54.0])))
