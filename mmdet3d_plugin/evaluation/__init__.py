"""Evaluation: metrics registered in Drive3D's ``METRICS`` (see :mod:`.metrics`)."""
from .metrics import *  # noqa: F401,F403
