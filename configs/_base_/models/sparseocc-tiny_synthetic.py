# SparseOcc's tiny CPU model for the synthetic Occ3D world: the dense baseline's camera branch
# and lift (occ-dense-tiny_synthetic.py: ResNet-18 at 1/4 width, LSS into 50 x 50 x 4 voxels of
# 1.6 m, depth supervision), then the sparse latent (the voxels that received lifted mass), the
# Sparse Latent Diffuser (two stages, 32 / 64 channels, decomposed context / completion kernels,
# pruning of voxels predicted empty after the first stage), the sparse feature pyramid (32) and
# the sparse Mask2Former head (20 queries, 3 decoder layers, 32-d) decoded to the Occ3D grid.
_base_ = ['./occ-dense-tiny_synthetic.py']

model = dict(
    type='SparseOcc',
    free_label=17,
    prune_loss_weight=1.0,
    occ_encoder=dict(_delete_=True, type='SparseLatentDiffuser', in_channels=16,
                     channels=(32, 64), completion_layers=(1, 1),
                     completion_xy_only=(False, True), prune_stages=(0, ),
                     prune_threshold=0.5, min_keep_ratio=0.25),
    occ_neck=dict(_delete_=True, type='SparseFeaturePyramid', in_channels=[32, 64],
                  out_channels=32),
    occ_head=dict(_delete_=True, type='SparseMask2FormerOccHead', in_channels=32,
                  num_classes=18, grid_shape=[200, 200, 16], embed_dims=32, num_queries=20,
                  num_heads=4, num_layers=3, feedforward_channels=128, attn_levels=(1, 0),
                  mask_key='mask_camera', ignore_index=255, num_points=4096))
