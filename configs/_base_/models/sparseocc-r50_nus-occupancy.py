# SparseOcc at paper size on nuScenes-Occupancy (Tang et al., CVPR 2024; the official
# sparseocc_nusc_256.py): the dense baseline's camera branch and lift
# (occ-dense-r50_nus-occupancy.py: ResNet-50 + SECONDFPN, 256 x 704, LSS with 112 depth bins
# into 128 x 128 x 10 voxels of 0.8 m, 128 channels), then the sparse latent, the Sparse Latent
# Diffuser (128 / 256 / 512 / 1024 channels, 3 / 2 / 2 / 1 completion layers, ground-plane-only
# completion in the two coarse stages; pruning of voxels predicted empty after the first stage),
# the sparse feature pyramid (192) and the sparse Mask2Former head (100 queries, 9 decoder layers
# over the three coarse levels, 192-d, 6 heads, FFN 1536, 50176 sampled points; costs and loss
# weights class 2 / mask 5 / dice 5), decoded to 512 x 512 x 40 (17 labels, 0 = free).
_base_ = ['./occ-dense-r50_nus-occupancy.py']

model = dict(
    type='SparseOcc',
    free_label=0,
    prune_loss_weight=1.0,
    occ_encoder=dict(_delete_=True, type='SparseLatentDiffuser', in_channels=128,
                     channels=(128, 256, 512, 1024), completion_layers=(3, 2, 2, 1),
                     completion_xy_only=(False, False, True, True), prune_stages=(0, ),
                     prune_threshold=0.5, min_keep_ratio=0.25),
    occ_neck=dict(_delete_=True, type='SparseFeaturePyramid',
                  in_channels=[128, 256, 512, 1024], out_channels=192),
    occ_head=dict(_delete_=True, type='SparseMask2FormerOccHead', in_channels=192,
                  num_classes=17, grid_shape=[512, 512, 40], embed_dims=192, num_queries=100,
                  num_heads=6, num_layers=9, feedforward_channels=1536, attn_levels=(3, 2, 1),
                  mask_key=None, ignore_index=255, num_points=50176))
