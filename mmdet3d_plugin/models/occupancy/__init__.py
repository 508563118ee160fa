"""Shared semantic-occupancy blocks: dense 3D encoder and neck, the occupancy head.

Reused by the occupancy methods (SparseOcc, OccGen, VEON, ReliOcc) and the dense camera
baseline (``configs/occ_baseline``); the detector is
:class:`mmdet3d_plugin.models.detectors.CameraOccupancyDetector`.
"""
from .fpn3d import OccFPN3D
from .occupancy_head import OccupancyHead
from .resnet3d import BasicBlock3D, OccResNet3D
from .targets import read_occupancy_targets

__all__ = ['BasicBlock3D', 'OccResNet3D', 'OccFPN3D', 'OccupancyHead', 'read_occupancy_targets']
