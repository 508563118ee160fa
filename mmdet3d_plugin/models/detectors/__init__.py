"""Multi-modal BEV detectors (camera + LiDAR -> BEV -> detection and map segmentation)."""
from .modality import MODALITIES, draw_modality_drop, flagged_present
from .multimodal_bev_detector import BEVFusion, MultiModalBEVDetector

__all__ = [
    'MODALITIES', 'draw_modality_drop', 'flagged_present', 'MultiModalBEVDetector', 'BEVFusion'
]
