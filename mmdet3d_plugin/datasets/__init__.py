"""Datasets and data transforms registered in Drive3D's ``DATASETS`` / ``TRANSFORMS``."""
from .nuscenes_bev_dataset import NuScenesBEVDataset, SampleKeyError
from .transforms import *  # noqa: F401,F403
from .transforms.db_sampler import GTPasteDataBaseSampler  # noqa: F401
