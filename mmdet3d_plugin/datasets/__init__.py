"""Datasets and data transforms registered in Drive3D's ``DATASETS`` / ``TRANSFORMS``."""
from .nuscenes_bev_dataset import NuScenesBEVDataset, SampleKeyError
from .nuscenes_occupancy_dataset import NuScenesOccupancyDataset
from .occ3d_dataset import Occ3DDataset
from .transforms import *  # noqa: F401,F403
from .transforms.db_sampler import GTPasteDataBaseSampler  # noqa: F401
