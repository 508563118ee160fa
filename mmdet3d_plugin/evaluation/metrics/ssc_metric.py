"""nuScenes-Occupancy (OpenOccupancy) scene completion IoU and semantic mIoU as a metric."""
from typing import Optional, Sequence

from mmdet3d_plugin.registry import METRICS
from mmdet3d_plugin.structures.occupancy_labels import (NUSC_OCC_CLASS_NAMES, NUSC_OCC_FREE_INDEX,
                                                        NUSC_OCC_NOISE_INDEX, OCC3D_CLASS_NAMES)

from .occupancy import geometry_iou, mean_iou, per_class_iou
from .occupancy_iou_metric import OccupancyIoUMetric


#: Label sets a config names instead of listing them.
LABEL_SETS = {'occ3d': OCC3D_CLASS_NAMES, 'nuscenes-occupancy': NUSC_OCC_CLASS_NAMES}


@METRICS.register_module()
class SSCMetric(OccupancyIoUMetric):
    """Semantic scene completion on nuScenes-Occupancy: SC IoU and SSC mIoU over labels 1..16.

    Follows OpenOccupancy's evaluation (see :mod:`..occupancy` for the reading): the dense GT
    grid holds 0 = free, 1..16 = classes and 255 = noise (label 0 of the sparse files, rewritten
    by the loader); noise voxels are dropped, one 17x17 matrix is accumulated over the split;
    SC IoU is the occupied-vs-free IoU, SSC mIoU the mean IoU of labels 1..16 (classes empty
    over the whole split are left out).

    Each data sample must carry (dicts or data elements; looked up under ``eval_ann_info`` too):

    * ``pred_occ``: (X, Y, Z) integer labels in [0, 17), e.g. (512, 512, 40), numpy or tensor;
    * ``gt_occ``: (X, Y, Z) integer labels, dense (0 free, 1..16, 255 noise);
    * ``mask_key`` (optional, e.g. ``'visible_mask'``): (X, Y, Z) bool/0-1 evaluated region.

    Reported (with the prefix ``ssc/``): ``SC_IoU``, ``SSC_mIoU`` and ``SSC_IoU_<class>`` for
    every label (free included), in percent; NaN marks a class that never occurs.

    Args:
        num_classes: Number of labels of the dense grid (17, free included).
        class_names: Name of each label, or the name of a label set (``'occ3d'``,
            ``'nuscenes-occupancy'``, what a config can write); defaults to nuScenes-Occupancy's.
        free_index: The free label (0).
        ignore_index: The noise label skipped in GT (255).
        eval_class_ids: Labels averaged into the SSC mIoU; ``None`` = all but free (1..16).
        pred_key: Data-sample key of the prediction.
        gt_key: Data-sample key of the GT.
        mask_key: Optional data-sample key of an extra evaluation mask.
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: Metric-name prefix; ``None`` uses ``'ssc'``.
        collect_dir: Folder used for CPU collection.
    """

    default_prefix = 'ssc'

    def __init__(self,
                 num_classes: int = 17,
                 class_names: Sequence[str] = NUSC_OCC_CLASS_NAMES,
                 free_index: int = NUSC_OCC_FREE_INDEX,
                 ignore_index: Optional[int] = NUSC_OCC_NOISE_INDEX,
                 eval_class_ids: Optional[Sequence[int]] = None,
                 pred_key: str = 'pred_occ',
                 gt_key: str = 'gt_occ',
                 mask_key: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        if free_index is None:
            raise ValueError('SSCMetric: free_index is required (SC IoU is occupied vs free)')
        if isinstance(class_names, str):
            if class_names not in LABEL_SETS:
                raise ValueError(f'SSCMetric: class_names {class_names!r} is not one of '
                                 f'{sorted(LABEL_SETS)} (or give the names)')
            class_names = LABEL_SETS[class_names]
        super().__init__(
            num_classes=num_classes,
            class_names=class_names,
            free_index=free_index,
            ignore_index=ignore_index,
            eval_class_ids=eval_class_ids,
            pred_key=pred_key,
            gt_key=gt_key,
            mask_keys=() if mask_key is None else (mask_key, ),
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)

    def compute_metrics(self, results: list) -> dict:
        """SC IoU, SSC mIoU and per-class SSC IoU (percent) from the per-sample matrices."""
        confusion = self.total_confusion(results)
        metrics = {
            'SC_IoU': geometry_iou(confusion, self.free_index) * 100,
            'SSC_mIoU': mean_iou(per_class_iou(confusion), self.eval_class_ids) * 100,
        }
        metrics.update(self.class_iou_percent(confusion, 'SSC_IoU_{}'))
        return metrics
