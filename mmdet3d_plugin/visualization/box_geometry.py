"""Geometry of mmdet3d LiDAR boxes for the views: corners in the devkit's order and footprints.

mmdet3d's ``LiDARInstance3DBoxes`` rows are ``[x, y, z_bottom, l, w, h, yaw, ...]`` with the
length along the heading. The views (``camera_view.corner_segments``, ``bev_view``) use the
nuScenes devkit's corner order (``Box.corners()``: 0-3 the front face, 4-7 the back face; 2, 3,
7, 6 the bottom), so boxes from models and from the devkit are drawn by one code path.
"""
import numpy as np

#: Devkit corner ``k`` is mmdet3d corner ``DEVKIT_FROM_MMDET3D[k]`` (mmdet3d's order: unit
#: corners ``(x, y, z)`` = 000, 001, 011, 010, 100, 101, 111, 110 about the bottom centre).
DEVKIT_FROM_MMDET3D = (6, 5, 4, 7, 2, 1, 0, 3)
#: Devkit indices of the bottom face, front edge first (``Box.bottom_corners``).
BOTTOM_FACE = (2, 3, 7, 6)


def lidar_box_corners(boxes) -> np.ndarray:
    """Corners of mmdet3d boxes in the devkit's order.

    Args:
        boxes (LiDARInstance3DBoxes | None): ``N`` boxes (``None`` means none).

    Returns:
        np.ndarray: ``(N, 8, 3)`` float64 corners in the boxes' frame.
    """
    if boxes is None or len(boxes) == 0:
        return np.zeros((0, 8, 3))
    corners = boxes.corners.detach().cpu().numpy().astype(np.float64)
    return corners[:, list(DEVKIT_FROM_MMDET3D)]


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a ``(4, 4)`` homogeneous transform to ``(..., 3)`` points."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def footprints(corners: np.ndarray) -> np.ndarray:
    """``(N, 4, 2)`` x-y bottom faces (front two corners first) of ``(N, 8, 3)`` corners."""
    return corners[:, list(BOTTOM_FACE), :2]
