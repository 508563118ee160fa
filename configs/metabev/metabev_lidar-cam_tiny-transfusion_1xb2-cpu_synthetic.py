# MetaBEV (BEV-Evolving decoder + M²oE, switched-modality training) on the synthetic nuScenes
# world on 2 CPU cores with the TransFusion head (as the paper configs) instead of the tiny
# CenterHead: 100 queries from the class heatmap of the 64 x 64 BEV map, 64-d queries, one
# decoder layer. Everything else is the tiny MetaBEV of ../_base_/models/metabev-tiny_synthetic.py
# (make demo's model), except that the BEV-Evolving decoder keeps two layers (M²oE in the
# second), the tiny MetaBEV's until 2026-12-02.
_base_ = [
    '../_base_/datasets/synthetic-nus-bev.py', '../_base_/models/metabev-tiny_synthetic.py',
    '../_base_/schedules/cosine-12e_synthetic.py', '../_base_/default_runtime.py'
]
model = dict(
    fuser=dict(num_layers=2, moe_layers=(1, )),
    # decoder layer (8 heads, FFN 2 x hidden, dropout 0.1), losses and matching costs are the
    # head's and the assigner's defaults: TransFusion's, as in bevfusion_swint-voxel0075_nus.py
    bbox_head=dict(
        _delete_=True, type='TransFusionHead', in_channels=128, num_classes=10,
        num_proposals=100, hidden_channel=64, num_decoder_layers=1, auxiliary=True,
        skip_nms_classes=(7, 8),  # pedestrian, traffic_cone in synthetic-nus-bev.py's order
        bbox_coder=dict(type='TransFusionBBoxCoder', pc_range={{_base_.pc_range}},
                        voxel_size={{_base_.voxel_size}}, out_size_factor=2,
                        post_center_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0])),
    train_cfg=dict(_delete_=True, pts=dict(
        point_cloud_range={{_base_.pc_range}}, voxel_size={{_base_.voxel_size}},
        out_size_factor=2, gaussian_overlap=0.1, min_radius=2,
        code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2],
        assigner=dict(type='HungarianAssigner3D'))),
    test_cfg=dict(_delete_=True, pts=dict(score_threshold=None)))
# switched-modality training leaves a branch without gradient in some iterations
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
