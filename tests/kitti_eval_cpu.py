"""mmdet3d's KITTI evaluation on a CPU: a stand-in for its CUDA-only rotated-IoU kernel (shared by
the KITTI writer and KITTI info tests; ``tests/`` is on ``sys.path`` under pytest)."""
import sys
import types

import numpy as np
import torch

ROTATE_IOU = 'mmdet3d.evaluation.functional.kitti_utils.rotate_iou'


def rotate_iou_cpu(boxes: np.ndarray, query_boxes: np.ndarray, criterion: int = -1,
                   device_id: int = 0) -> np.ndarray:
    """CPU stand-in for mmdet3d's numba-CUDA ``rotate_iou_gpu_eval`` (same arguments, corners
    and criteria; the rectangles are intersected exactly by shapely).

    Args:
        boxes (np.ndarray): ``(N, 5)`` ``[x, z, dx, dz, angle]`` BEV boxes.
        query_boxes (np.ndarray): ``(K, 5)`` likewise.
        criterion (int): -1 IoU, 0 intersection over the query's area, 1 over the box's area,
            otherwise the intersection area.
        device_id (int): Unused (the CUDA device of the original).

    Returns:
        np.ndarray: ``(N, K)`` overlaps.
    """
    import shapely

    def polygons(b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=np.float32).astype(np.float64).reshape(-1, 5)
        x = np.array([-1, -1, 1, 1]) * b[:, 2:3] / 2
        y = np.array([-1, 1, 1, -1]) * b[:, 3:4] / 2
        c, s = np.cos(b[:, 4:5]), np.sin(b[:, 4:5])
        corners = np.stack([c * x + s * y + b[:, :1], -s * x + c * y + b[:, 1:2]], -1)
        return shapely.polygons(corners)

    box_polys, query_polys = polygons(boxes), polygons(query_boxes)
    inter = np.zeros((len(box_polys), len(query_polys)))
    radius = np.hypot(boxes[:, 2], boxes[:, 3])[:, None] / 2 + np.hypot(
        query_boxes[:, 2], query_boxes[:, 3])[None] / 2
    n, k = np.nonzero(np.linalg.norm(boxes[:, None, :2] - query_boxes[None, :, :2], axis=-1) <
                      radius)  # only pairs whose circumcircles meet can intersect
    inter[n, k] = shapely.area(shapely.intersection(box_polys[n], query_polys[k]))
    box_area, query_area = shapely.area(box_polys)[:, None], shapely.area(query_polys)[None]
    if criterion == -1:
        inter = inter / (box_area + query_area - inter)
    elif criterion == 0:
        inter = inter / query_area
    elif criterion == 1:
        inter = inter / box_area
    return inter.astype(np.float32).astype(np.asarray(boxes).dtype)


def use_cpu_rotate_iou(monkeypatch) -> None:
    """Without a CUDA GPU, replace mmdet3d's numba-CUDA ``rotate_iou_gpu_eval`` (imported lazily
    by ``kitti_eval``) with :func:`rotate_iou_cpu` for the test; with one, keep mmdet3d's."""
    if not torch.cuda.is_available():
        module = types.ModuleType(ROTATE_IOU)
        module.rotate_iou_gpu_eval = rotate_iou_cpu
        monkeypatch.setitem(sys.modules, ROTATE_IOU, module)
