# The dense camera occupancy baseline at paper size on nuScenes-Occupancy (C-CONet's camera
# branch as SparseOcc compares against): ResNet-50 (torchvision weights from a path) + SECONDFPN
# (four levels to stride 16, 512 channels at 16 x 44 for a 256 x 704 input), LSS with 112 depth
# bins (2-58 m, 0.5 m) and 128 context channels into 128 x 128 x 10 voxels of 0.8 m (LiDAR frame),
# LiDAR depth supervision (weight 1), a dense 3D ResNet (128 / 256 / 512 / 1024, strides 1 / 2 /
# 2 / 2) + 3D FPN (192), and the occupancy head upsampling x4 to 512 x 512 x 40 (17 labels, 0 =
# free, 255 = noise ignored; CE with class weights + Lovasz + scene-class affinity losses).
# The ResNet-50 checkpoint: download torchvision's resnet50-0676ba61.pth on a machine with
# internet, save it as resnet50_checkpoint below, or pass
# --cfg-options model.img_backbone.init_cfg.checkpoint=PATH.
resnet50_checkpoint = 'checkpoints/resnet50-0676ba61.pth'
input_size = (256, 704)
feature_stride = 16
occ_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]  # nuScenes-Occupancy, LiDAR frame
occ_shape = [512, 512, 40]  # (X, Y, Z) at 0.2 m
num_occ_classes = 17  # 0 free, 1..16 semantic
lift_step = 0.8  # 128 x 128 x 10 latent
volume_channels = 128

model = dict(
    type='CameraOccupancyDetector',
    data_preprocessor=dict(type='Det3DDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=False, pad_size_divisor=32),
    img_backbone=dict(type='mmdet.ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
                      frozen_stages=0, norm_cfg=dict(type='BN', requires_grad=True),
                      norm_eval=False, with_cp=True, style='pytorch',
                      init_cfg=dict(type='Pretrained', checkpoint=resnet50_checkpoint)),
    img_neck=dict(type='SECONDFPN', in_channels=[256, 512, 1024, 2048],
                  out_channels=[128, 128, 128, 128], upsample_strides=[0.25, 0.5, 1, 2],
                  use_conv_for_no_stride=True),
    view_transform=dict(
        type='LSSVoxelTransform', in_channels=512, out_channels=volume_channels,
        image_size=input_size,
        feature_size=(input_size[0] // feature_stride, input_size[1] // feature_stride),
        xbound=[occ_range[0], occ_range[3], lift_step],
        ybound=[occ_range[1], occ_range[4], lift_step],
        zbound=[occ_range[2], occ_range[5], lift_step], dbound=[2.0, 58.0, 0.5],
        depth_net_channels=512, loss_depth_weight=1.0),
    occ_encoder=dict(type='OccResNet3D', in_channels=volume_channels,
                     stage_channels=(128, 256, 512, 1024), stage_blocks=(1, 1, 1, 1),
                     stage_strides=(1, 2, 2, 2), out_indices=(0, 1, 2, 3)),
    occ_neck=dict(type='OccFPN3D', in_channels=[128, 256, 512, 1024], out_channels=192,
                  num_outs=1),
    occ_head=dict(
        type='OccupancyHead', in_channels=192, num_classes=num_occ_classes,
        grid_shape=occ_shape, hidden_channels=96, upsample='trilinear', mask_key=None,
        ignore_index=255,
        losses=dict(
            loss_ce=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, ignore_index=255,
                         avg_non_ignore=True, loss_weight=1.0),
            loss_lovasz=dict(type='LovaszSoftmaxLoss', ignore_index=255, loss_weight=1.0),
            loss_geo_scal=dict(type='GeoScalLoss', free_index=0, ignore_index=255,
                               loss_weight=1.0),
            loss_sem_scal=dict(type='SemScalLoss', free_index=0, ignore_index=255,
                               loss_weight=1.0))),
    test_cfg=dict(return_probs=True, probs_dtype='float16'))
