"""MetaBEV's sensor-corruption suite as seeded mmcv transforms (train and test pipelines).

Transforms: ``LimitedField``, ``BeamReduction``, ``MissingLiDAR`` (lidar.py),
``MissingObjects`` (objects.py), ``ObstacleOcclusion`` (occlusion.py), ``ViewDrop``,
``ViewNoise``, ``MissingCamera`` (camera.py). Settings: ``CORRUPTION_SUITE`` and
``build_corruption`` (suite.py). Seeding: ``base.py``. Lens-dirt masks: ``lens_dirt.py``.
Training (in-domain protocol): ``RandomCorruption``, ``EpochKeyedSampler``,
``EpochKeyedDataset`` (training.py).

Missing sensors are an input state, not an error: ``MissingLiDAR`` leaves an empty (0, C)
points object and sets ``results['lidar_missing'] = True``; ``MissingCamera`` zeroes every view
and sets ``results['camera_missing'] = True`` and ``results['dropped_views']``.
"""
from .base import SeededCorruption, draw_context, draw_key, sample_identity, stable_hash
from .camera import MissingCamera, ViewDrop, ViewNoise
from .lidar import BeamReduction, LimitedField, MissingLiDAR, beam_keep_mask
from .objects import MissingObjects
from .lens_dirt import blend_lens_dirt, lens_dirt_mask
from .occlusion import ObstacleOcclusion, occluder_alpha
from .suite import (CORRUPTION_SPECS, CORRUPTION_SUITE, TRAINING_SEVERITIES, CorruptionSpec,
                    build_corruption)
from .training import EpochKeyedDataset, EpochKeyedSampler, RandomCorruption

__all__ = [
    'SeededCorruption', 'draw_context', 'draw_key', 'sample_identity', 'stable_hash',
    'LimitedField', 'BeamReduction',
    'MissingLiDAR', 'beam_keep_mask', 'MissingObjects', 'ObstacleOcclusion', 'occluder_alpha',
    'ViewDrop', 'ViewNoise', 'MissingCamera', 'CORRUPTION_SPECS', 'CORRUPTION_SUITE',
    'CorruptionSpec', 'build_corruption', 'TRAINING_SEVERITIES', 'blend_lens_dirt',
    'lens_dirt_mask', 'RandomCorruption', 'EpochKeyedSampler', 'EpochKeyedDataset'
]
