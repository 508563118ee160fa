# MetaBEV on the tiny BEVFusion-topology model: the conv fuser is replaced by the BEV-Evolving
# decoder (64-channel meta-BEV queries on the 128 x 128 BEV grid, two layers, the second with
# M²oE FFN giving detection and segmentation their own BEV features) and training drops a
# modality for half of the samples.
_base_ = ['./bevfusion-tiny_synthetic.py']

model = dict(
    type='MetaBEV',
    modality_drop=(0.25, 0.25),
    fuser=dict(_delete_=True, type='BEVEvolvingDecoder',
               in_channels=[{{_base_.camera_bev_channels}}, {{_base_.lidar_bev_channels}}],
               embed_dims={{_base_.fused_channels}}, bev_shape=(128, 128), num_layers=2,
               num_heads=4, num_points=4, ffn_channels=128, moe_layers=(1, ),
               moe=dict(num_experts=4, top_k=2), tasks=('det', 'seg')))
