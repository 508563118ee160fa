"""Missing Objects: remove the LiDAR points of a random fraction of the ground-truth objects."""
from typing import Dict

import numpy as np
import torch
from mmdet3d.structures import BaseInstance3DBoxes, LiDARInstance3DBoxes

from mmdet3d_plugin.registry import TRANSFORMS
from .base import SeededCorruption, get_points, keep_points

#: Where the ground-truth boxes are looked for: train pipelines (after LoadAnnotations3D), then
#: test pipelines (mmdet3d keeps them in ``eval_ann_info``), then raw ``ann_info``.
BOX_LOCATIONS = ("results['gt_bboxes_3d']", "results['eval_ann_info']['gt_bboxes_3d']",
                 "results['ann_info']['gt_bboxes_3d']")


def find_gt_boxes(results: Dict) -> BaseInstance3DBoxes:
    """Return the sample's 3D ground-truth boxes from the first location that holds them.

    Args:
        results (dict): Pipeline results (see ``BOX_LOCATIONS``). A numpy array (T, >=7) is
            read as LiDAR boxes (x, y, z_bottom, dx, dy, dz, yaw, ...).

    Returns:
        BaseInstance3DBoxes: T boxes.

    Raises:
        KeyError: if no location holds boxes.
    """
    for boxes in (results.get('gt_bboxes_3d'),
                  (results.get('eval_ann_info') or {}).get('gt_bboxes_3d'),
                  (results.get('ann_info') or {}).get('gt_bboxes_3d')):
        if boxes is None:
            continue
        if isinstance(boxes, BaseInstance3DBoxes):
            return boxes
        array = np.asarray(boxes, dtype=np.float32)
        array = array.reshape(-1, array.shape[-1]) if array.size else np.zeros((0, 7), np.float32)
        return LiDARInstance3DBoxes(torch.from_numpy(array), box_dim=array.shape[1])
    raise KeyError(f'MissingObjects needs ground-truth boxes in one of {list(BOX_LOCATIONS)} '
                   '(load them with LoadAnnotations3D(with_bbox_3d=True) in train pipelines; '
                   'test pipelines need the dataset\'s load_eval_anns=True)')


def points_in_boxes(xyz: torch.Tensor, boxes: BaseInstance3DBoxes) -> torch.Tensor:
    """Return which boxes hold each point.

    Args:
        xyz (torch.Tensor): Points (N, 3) in the boxes' frame.
        boxes (BaseInstance3DBoxes): T boxes, bottom-centre origin.

    Returns:
        torch.Tensor: Bool (N, T); True where point n lies in box t.
    """
    from mmcv.ops import points_in_boxes_all, points_in_boxes_cpu  # compiled ext: import at use
    box_tensor = boxes.tensor[:, :7].to(device=xyz.device, dtype=torch.float32)
    xyz = xyz.float().contiguous()
    if xyz.is_cuda:
        inside = points_in_boxes_all(xyz[None], box_tensor[None].contiguous())
    else:
        inside = points_in_boxes_cpu(xyz[None], box_tensor[None].contiguous())
    return inside[0].bool()


@TRANSFORMS.register_module()
class MissingObjects(SeededCorruption):
    """Remove the LiDAR points inside the boxes of a random subset of ground-truth objects.

    Each object is chosen independently with probability ``drop_rate`` (0 keeps every point,
    1 empties every box); all points inside a chosen box are removed, a point shared by a chosen
    and an unchosen box is removed too. Boxes, labels and images are unchanged: the objects are
    still there, the LiDAR just sees nothing of them. Place it after ``LoadAnnotations3D`` and
    before ``ObjectSample`` (pasted objects are not part of the scene) and before geometric
    augmentation.

    Args:
        drop_rate (float): Probability in [0, 1] that an object loses its points
            (MetaBEV: 0, 0.1, 0.3, 0.5, 0.7, 1.0).
        seed (int): Base seed; the choice is fixed per (seed, sample). Defaults to 0.
    """

    def __init__(self, drop_rate: float, seed: int = 0) -> None:
        super().__init__(seed)
        if isinstance(drop_rate, bool) or not 0.0 <= drop_rate <= 1.0:
            raise ValueError(f'MissingObjects: drop_rate must be in [0, 1], got {drop_rate!r}')
        self.drop_rate = float(drop_rate)

    def apply(self, results: Dict, rng: np.random.Generator) -> Dict:
        """Remove the points of the chosen objects.

        Args:
            results (dict): Needs ``points`` (BasePoints, (N, C)) and T ground-truth boxes
                (see ``find_gt_boxes``).

        Returns:
            dict: ``results`` with ``points`` (M, C), M <= N, and point-wise masks filtered.
        """
        points = get_points(results, 'MissingObjects')
        boxes = find_gt_boxes(results)
        chosen = rng.random(len(boxes)) < self.drop_rate
        if not chosen.any() or len(points) == 0:
            return results
        inside = points_in_boxes(points.tensor[:, :3], boxes[torch.from_numpy(chosen)])
        keep_points(results, ~inside.any(dim=1).cpu().numpy())
        return results
