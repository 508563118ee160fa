"""The MetaBEV detector: the shared multi-modal BEV detector with a BEV-Evolving decoder."""
from typing import Dict, List, Sequence

from torch import Tensor

from mmdet3d_plugin.models.detectors import MultiModalBEVDetector
from mmdet3d_plugin.registry import MODELS


@MODELS.register_module()
class MetaBEV(MultiModalBEVDetector):
    """MetaBEV: :class:`MultiModalBEVDetector` whose fuser is a :class:`BEVEvolvingDecoder`,
    trained with switched modalities so one checkpoint serves camera+LiDAR, camera-only and
    LiDAR-only input.

    With M²oE layers, :meth:`loss` also returns the decoder's routing terms: ``moe_balance``
    (the balancing loss, logged) and ``moe_usage_entropy.<task>`` (1 = experts used evenly, 0 =
    one expert), and, when ``moe_balance_weight > 0``, ``loss_moe_balance`` =
    ``moe_balance_weight * moe_balance``, which mmengine adds to the training loss.

    Args:
        fuser: Must build a ``BEVEvolvingDecoder``.
        modality_drop: ``(p_drop_camera, p_drop_lidar)`` per training sample; default
            ``(0.25, 0.25)``: half of the samples train with one sensor.
        moe_balance_weight: Weight of the M²oE balancing loss; default 0 (logged, not
            trained on: the behaviour before the loss existed). The paper's weight is not
            known (see ``mmdet3d_plugin/metabev/m2oe.py``); Switch Transformer uses 0.01.
        **kwargs: As :class:`MultiModalBEVDetector`.
    """

    def __init__(self, fuser: dict, modality_drop: Sequence[float] = (0.25, 0.25),
                 moe_balance_weight: float = 0.0, **kwargs) -> None:
        if fuser.get('type') not in ('BEVEvolvingDecoder', 'mmdet3d_plugin.BEVEvolvingDecoder'):
            raise ValueError(f"MetaBEV: fuser must be a BEVEvolvingDecoder, got "
                             f"type={fuser.get('type')!r} (use BEVFusion for a conv fuser)")
        if moe_balance_weight < 0:
            raise ValueError(f'MetaBEV: moe_balance_weight={moe_balance_weight} must be >= 0')
        super().__init__(fuser=fuser, modality_drop=modality_drop, **kwargs)
        self.moe_balance_weight = float(moe_balance_weight)

    def moe_loss_terms(self) -> Dict[str, Tensor]:
        """The M²oE terms of the last forward (empty without M²oE layers)."""
        aux = self.fuser.moe_aux()
        if aux is None:
            return {}
        terms = {'moe_balance': aux['balance'].detach()}
        terms.update({f'moe_usage_entropy.{task}': value
                      for task, value in aux['usage_entropy'].items()})
        if self.moe_balance_weight > 0:
            terms['loss_moe_balance'] = self.moe_balance_weight * aux['balance']
        return terms

    def loss(self, batch_inputs: dict, batch_data_samples: List) -> Dict[str, Tensor]:
        """The heads' losses (:meth:`MultiModalBEVDetector.loss`) plus :meth:`moe_loss_terms`."""
        losses = super().loss(batch_inputs, batch_data_samples)
        losses.update(self.moe_loss_terms())
        return losses
