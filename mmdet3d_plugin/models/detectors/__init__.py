"""Detectors: multi-modal BEV (camera + LiDAR -> BEV -> detection and map segmentation) and
camera semantic occupancy."""
from .camera_occupancy_detector import CameraOccupancyDetector
from .modality import (MODALITIES, ModalityDropSampler, draw_modality_drop, drop_generator,
                       flagged_present)
from .multimodal_bev_detector import BEVFusion, MultiModalBEVDetector

__all__ = [
    'MODALITIES', 'ModalityDropSampler', 'draw_modality_drop', 'drop_generator', 'flagged_present',
    'MultiModalBEVDetector', 'BEVFusion', 'CameraOccupancyDetector'
]
