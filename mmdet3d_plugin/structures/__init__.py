"""Typed data and label conventions shared by datasets, metrics and the synthetic world."""
from .occupancy_labels import (NUSC_OCC_CLASS_NAMES, NUSC_OCC_FREE_INDEX, NUSC_OCC_NOISE_INDEX,
                               OCC3D_CLASS_NAMES, OCC3D_FREE_INDEX)

__all__ = ['OCC3D_CLASS_NAMES', 'OCC3D_FREE_INDEX', 'NUSC_OCC_CLASS_NAMES', 'NUSC_OCC_FREE_INDEX',
           'NUSC_OCC_NOISE_INDEX']
