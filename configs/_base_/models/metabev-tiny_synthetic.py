# MetaBEV's tiny synthetic-world model: bevfusion-tiny_synthetic.py with the BEV-Evolving decoder
# as fuser (64-d queries on the 64 x 64 grid, one layer with the routing-experts M²oE, 4 experts
# / top-2) and switched-modality training -- the model of `make demo`
# (configs/metabev/metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py) and the base of the M²oE
# ablation configs in configs/metabev/ablation/ (which vary the tasks and the M²oE layers).
# One decoder layer, not two: on 2 CPU cores it frees ~15 % of each iteration for more epochs
# inside make demo's 15 minutes (configs/metabev/README.md, "make demo").
_base_ = ['./bevfusion-tiny_synthetic.py']

model = dict(
    type='MetaBEV',
    modality_drop=(0.25, 0.25),
    moe_balance_weight=0.0,
    fuser=dict(_delete_=True, type='BEVEvolvingDecoder',
               in_channels=[{{_base_.camera_bev_channels}}, {{_base_.lidar_bev_channels}}],
               embed_dims={{_base_.fused_channels}}, bev_shape=(64, 64), num_layers=1,
               num_heads=4, num_points=4, ffn_channels=128, moe_layers=(0, ),
               moe=dict(variant='re', num_experts=4, top_k=2), tasks=('det', 'seg')))
