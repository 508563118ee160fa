"""Datasets and data transforms registered in Drive3D's ``DATASETS`` / ``TRANSFORMS``."""
from .transforms import *  # noqa: F401,F403
