# A small dense camera occupancy model for the synthetic Occ3D world on CPU (the role C-CONet
# plays in the SparseOcc paper): the tiny BEVFusion camera branch (ResNet-18 at 1/4 width +
# FPN, stride-8 features), LSS into a 1.6 m voxel volume of the Occ3D extent (50 x 50 x 4 in
# the ego frame, LiDAR depth supervision), a 3D ResNet + FPN, and an occupancy head whose
# logits are upsampled trilinearly to the Occ3D grid (200 x 200 x 16 at 0.4 m).
# SparseOcc's synthetic config replaces occ_encoder / occ_neck / occ_head.
input_size = (128, 352)  # (H, W) network input after ImageAug3D
feature_stride = 8  # of the FPN level the view transform lifts (MultiViewDepthGT downsample)
occ_range = [-40.0, -40.0, -1.0, 40.0, 40.0, 5.4]  # Occ3D-nuScenes, ego frame
occ_shape = [200, 200, 16]  # (X, Y, Z)
num_occ_classes = 18  # Occ3D: 0 others .. 16 vegetation, 17 free
lift_step = 1.6  # latent voxel (4 GT voxels along each axis)
volume_channels = 16

model = dict(
    type='CameraOccupancyDetector',
    data_preprocessor=dict(type='Det3DDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=False, pad_size_divisor=32),
    img_backbone=dict(type='mmdet.ResNet', depth=18, base_channels=16, num_stages=4,
                      out_indices=(1, 2, 3), norm_cfg=dict(type='BN', requires_grad=True),
                      norm_eval=False, style='pytorch'),
    img_neck=dict(type='mmdet.FPN', in_channels=[32, 64, 128], out_channels=64, num_outs=3),
    view_transform=dict(
        type='LSSVoxelTransform', in_channels=64, out_channels=volume_channels,
        image_size=input_size,
        feature_size=(input_size[0] // feature_stride, input_size[1] // feature_stride),
        xbound=[occ_range[0], occ_range[3], lift_step],
        ybound=[occ_range[1], occ_range[4], lift_step],
        zbound=[occ_range[2], occ_range[5], lift_step], dbound=[1.0, 60.0, 1.0],
        depth_net_channels=64, loss_depth_weight=1.0),
    occ_encoder=dict(type='OccResNet3D', in_channels=volume_channels, stage_channels=(32, 64),
                     stage_blocks=(1, 1), stage_strides=(1, (1, 2, 2)), out_indices=(0, 1)),
    occ_neck=dict(type='OccFPN3D', in_channels=[32, 64], out_channels=32, num_outs=1),
    # the scene-class affinity losses of MonoScene beside the cross-entropy; the paper configs
    # add Lovasz-softmax, left out here for its cost on CPU (8 of 14 s of a 1-thread training
    # step at batch 2: it sorts the errors of ~0.8 M voxels for each of the 18 classes)
    occ_head=dict(
        type='OccupancyHead', in_channels=32, num_classes=num_occ_classes, grid_shape=occ_shape,
        upsample='trilinear', mask_key='mask_camera', ignore_index=255,
        losses=dict(
            loss_ce=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, ignore_index=255,
                         avg_non_ignore=True, loss_weight=1.0),
            loss_geo_scal=dict(type='GeoScalLoss', free_index=17, ignore_index=255,
                               loss_weight=1.0),
            loss_sem_scal=dict(type='SemScalLoss', free_index=17, ignore_index=255,
                               loss_weight=1.0))),
    test_cfg=dict(return_probs=True, probs_dtype='float16'))
