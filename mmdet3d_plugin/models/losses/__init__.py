"""Occupancy losses: Lovász-softmax, MonoScene's scene-class affinity losses, class weights.

The weighted voxel cross-entropy is mmdet's ``mmdet.CrossEntropyLoss`` (``use_sigmoid=False``,
``class_weight=occupancy_class_weights(...)``, ``ignore_index=255``), which takes
(B, K, X, Y, Z) logits as they are.
"""
from .class_weights import occupancy_class_weights
from .geo_scal_loss import GeoScalLoss
from .lovasz_softmax_loss import LovaszSoftmaxLoss
from .sem_scal_loss import SemScalLoss

__all__ = ['LovaszSoftmaxLoss', 'GeoScalLoss', 'SemScalLoss', 'occupancy_class_weights']
