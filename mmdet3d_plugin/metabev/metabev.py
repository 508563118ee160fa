"""The MetaBEV detector: the shared multi-modal BEV detector with a BEV-Evolving decoder."""
from typing import Sequence

from mmdet3d_plugin.models.detectors import MultiModalBEVDetector
from mmdet3d_plugin.registry import MODELS


@MODELS.register_module()
class MetaBEV(MultiModalBEVDetector):
    """MetaBEV: :class:`MultiModalBEVDetector` whose fuser is a :class:`BEVEvolvingDecoder`,
    trained with switched modalities so one checkpoint serves camera+LiDAR, camera-only and
    LiDAR-only input.

    Args:
        fuser: Must build a ``BEVEvolvingDecoder``.
        modality_drop: ``(p_drop_camera, p_drop_lidar)`` per training sample; default
            ``(0.25, 0.25)``: half of the samples train with one sensor.
        **kwargs: As :class:`MultiModalBEVDetector`.
    """

    def __init__(self, fuser: dict, modality_drop: Sequence[float] = (0.25, 0.25),
                 **kwargs) -> None:
        if fuser.get('type') not in ('BEVEvolvingDecoder', 'mmdet3d_plugin.BEVEvolvingDecoder'):
            raise ValueError(f"MetaBEV: fuser must be a BEVEvolvingDecoder, got "
                             f"type={fuser.get('type')!r} (use BEVFusion for a conv fuser)")
        super().__init__(fuser=fuser, modality_drop=modality_drop, **kwargs)
