# MetaBEV at the paper's nuScenes resolution: the BEVFusion branches and heads of
# bevfusion_swint-voxel0075_nus.py, with the BEV-Evolving decoder as fuser (256-d meta-BEV
# queries on the 180 x 180 grid; three layers, M²oE FFN with 4 experts / top-2 in the last two)
# and switched-modality training (a quarter of the samples without camera, a quarter without
# LiDAR). Depth and expert counts are this code's choice; the paper does not fix them in text.
_base_ = ['./bevfusion_swint-voxel0075_nus.py']

model = dict(
    type='MetaBEV',
    modality_drop=(0.25, 0.25),
    fuser=dict(_delete_=True, type='BEVEvolvingDecoder',
               in_channels=[{{_base_.camera_bev_channels}}, {{_base_.lidar_bev_channels}}],
               embed_dims={{_base_.fused_channels}}, bev_shape=(180, 180), num_layers=3,
               num_heads=8, num_points=4, ffn_channels=512, moe_layers=(1, 2),
               moe=dict(num_experts=4, top_k=2), tasks=('det', 'seg'), dropout=0.1))
