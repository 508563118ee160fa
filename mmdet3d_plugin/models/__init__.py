"""Shared model blocks (camera->BEV view transforms, fusers, BEV heads, multi-modal detectors).

Reused by the methods (MetaBEV, LiteFusion, GSP, the occupancy methods); stock mmdet/mmdet3d
modules (ResNet, FPN, SparseEncoder, SECOND, CenterHead, ...) are used through the registry.
"""
from .detectors import *  # noqa: F401,F403
from .fusers import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .occupancy import *  # noqa: F401,F403
from .task_modules import *  # noqa: F401,F403
from .view_transforms import *  # noqa: F401,F403
