"""Occ3D semantic-occupancy mIoU as an mmengine metric."""
from typing import Optional, Sequence

from mmdet3d_plugin.registry import METRICS
from mmdet3d_plugin.structures.occupancy_labels import OCC3D_CLASS_NAMES, OCC3D_FREE_INDEX

from .occupancy import geometry_iou, mean_iou, per_class_iou
from .occupancy_iou_metric import OccupancyIoUMetric


@METRICS.register_module()
class Occ3DMetric(OccupancyIoUMetric):
    """Occ3D-nuScenes mIoU: one 18x18 confusion matrix over the split, inside the camera mask.

    Reproduces the official metric (``Metric_mIoU`` of Tsinghua-MARS-Lab/Occ3D, see
    :mod:`..occupancy`): IoUs from the dataset-wide matrix, mIoU over labels 0..16 with classes
    empty over the whole split (zero union) left out; free (17) is not averaged.

    Each data sample must carry (dicts or data elements; looked up under ``eval_ann_info`` too):

    * ``pred_occ``: (X, Y, Z) integer labels in [0, 18), e.g. (200, 200, 16), numpy or tensor;
    * ``gt_occ``: (X, Y, Z) integer labels (Occ3D ``semantics``);
    * ``mask_camera``: (X, Y, Z) bool or 0/1 when ``use_camera_mask`` (the default);
    * ``mask_lidar``: (X, Y, Z) bool or 0/1 when ``use_lidar_mask``.

    Reported (with the prefix ``occ3d/``): ``mIoU``, ``IoU_<class>`` for every label (free
    included), and ``geometry_IoU`` (occupied vs free), all in percent; NaN marks a class that
    never occurs.

    Args:
        num_classes: Number of labels (18).
        class_names: Name of each label; defaults to Occ3D-nuScenes'.
        free_index: The free label (17).
        eval_class_ids: Labels averaged into the mIoU; ``None`` = all but ``free_index``.
        ignore_index: GT label skipped (255; the official code skips labels outside [0, 18)).
        use_camera_mask: Evaluate only inside ``camera_mask_key`` (official: True).
        use_lidar_mask: Evaluate only inside ``lidar_mask_key`` (combined by AND).
        pred_key: Data-sample key of the prediction.
        gt_key: Data-sample key of the GT.
        camera_mask_key: Data-sample key of the camera visibility mask.
        lidar_mask_key: Data-sample key of the LiDAR visibility mask.
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: Metric-name prefix; ``None`` uses ``'occ3d'``.
        collect_dir: Folder used for CPU collection.
    """

    default_prefix = 'occ3d'

    def __init__(self,
                 num_classes: int = 18,
                 class_names: Sequence[str] = OCC3D_CLASS_NAMES,
                 free_index: Optional[int] = OCC3D_FREE_INDEX,
                 eval_class_ids: Optional[Sequence[int]] = None,
                 ignore_index: Optional[int] = 255,
                 use_camera_mask: bool = True,
                 use_lidar_mask: bool = False,
                 pred_key: str = 'pred_occ',
                 gt_key: str = 'gt_occ',
                 camera_mask_key: str = 'mask_camera',
                 lidar_mask_key: str = 'mask_lidar',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        mask_keys = [key for key, used in ((camera_mask_key, use_camera_mask),
                                           (lidar_mask_key, use_lidar_mask)) if used]
        super().__init__(
            num_classes=num_classes,
            class_names=class_names,
            free_index=free_index,
            ignore_index=ignore_index,
            eval_class_ids=eval_class_ids,
            pred_key=pred_key,
            gt_key=gt_key,
            mask_keys=mask_keys,
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)

    def compute_metrics(self, results: list) -> dict:
        """mIoU, per-class IoU and geometry IoU (percent) from the per-sample matrices."""
        confusion = self.total_confusion(results)
        metrics = {'mIoU': mean_iou(per_class_iou(confusion), self.eval_class_ids) * 100}
        metrics.update(self.class_iou_percent(confusion, 'IoU_{}'))
        if self.free_index is not None:
            metrics['geometry_IoU'] = geometry_iou(confusion, self.free_index) * 100
        return metrics
