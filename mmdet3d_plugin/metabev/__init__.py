"""MetaBEV (Ge et al., 2023): sensor-failure-robust BEV detection and map segmentation.

The camera/LiDAR branches, heads and detector come from :mod:`mmdet3d_plugin.models`; MetaBEV
adds the BEV-Evolving decoder (dense meta-BEV queries, cross-modal deformable attention) with
M²oE feed-forward layers as the fuser, and switched-modality training.
"""
from .bev_evolving_decoder import BEVEvolvingDecoder, BEVEvolvingLayer
from .cross_modal_attention import CrossModalDeformableAttention, deformable_sample
from .m2oe import MultiTaskMoEFFN
from .metabev import MetaBEV

__all__ = [
    'BEVEvolvingDecoder', 'BEVEvolvingLayer', 'CrossModalDeformableAttention',
    'deformable_sample', 'MultiTaskMoEFFN', 'MetaBEV'
]
