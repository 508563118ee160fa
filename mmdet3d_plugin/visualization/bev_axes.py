"""How the x-y plane of a BEV frame is laid on a plot's horizontal and vertical axes.

The dataset pictures draw the ego frame landscape (x forward to the right, y left upwards).
Prediction pictures draw the sample's LiDAR frame with the ego's forward direction **up** and
its left on the left, whatever the LiDAR's mounting: nuScenes' ``LIDAR_TOP`` has x to the
right of the car and y forward (its ``lidar2ego`` rotates by -90° about z), KITTI's Velodyne x
forward and y left. Tick labels stay the frame's own coordinates (an axis is swapped or
inverted, never re-signed), so a position read off the plot is a position in the frame.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

#: Frame directions, unit 2-vectors.
DIRECTIONS = {'+x': (1.0, 0.0), '+y': (0.0, 1.0), '-x': (-1.0, 0.0), '-y': (0.0, -1.0)}


@dataclass(frozen=True)
class BEVAxes:
    """Which frame axis runs along the plot's horizontal / vertical axis, and which way.

    Attributes:
        swap (bool): The horizontal axis carries the frame's y (the vertical its x).
        flip_h (bool): Horizontal values decrease to the right.
        flip_v (bool): Vertical values decrease upwards.
        forward (str): The ego's forward direction in the frame (a :data:`DIRECTIONS` key).
        labels (tuple): ``(horizontal, vertical)`` axis labels.
    """
    swap: bool = False
    flip_h: bool = False
    flip_v: bool = False
    forward: str = '+x'
    labels: Tuple[str, str] = ('x (ego forward) [m]', 'y (ego left) [m]')

    def to_plot(self, xy: np.ndarray) -> np.ndarray:
        """``(..., 2)`` frame x-y -> plot (horizontal, vertical) data coordinates."""
        xy = np.asarray(xy)
        return xy[..., ::-1] if self.swap else xy

    def extent(self, bev_range: Sequence[float]) -> Tuple[float, float, float, float]:
        """``(h_min, h_max, v_min, v_max)`` of ``(x_min, y_min, x_max, y_max)``."""
        x_min, y_min, x_max, y_max = bev_range
        return (y_min, y_max, x_min, x_max) if self.swap else (x_min, x_max, y_min, y_max)

    def vertical_axis(self) -> str:
        """``'x'`` or ``'y'``: the frame axis drawn vertically."""
        return 'x' if self.swap else 'y'

    def apply(self, ax, bev_range: Sequence[float]) -> None:
        """Limits (inverted where flipped), equal aspect and labels of ``ax``."""
        h_min, h_max, v_min, v_max = self.extent(bev_range)
        ax.set_xlim((h_max, h_min) if self.flip_h else (h_min, h_max))
        ax.set_ylim((v_max, v_min) if self.flip_v else (v_min, v_max))
        ax.set_aspect('equal')
        ax.set_xlabel(self.labels[0])
        ax.set_ylabel(self.labels[1])


#: The ego frame, landscape: x (forward) to the right, y (left) up.
EGO_LANDSCAPE = BEVAxes()


def forward_up(forward: str, frame: str = 'LiDAR') -> BEVAxes:
    """Axes that put ``forward`` (a :data:`DIRECTIONS` key) up and the ego's left on the left.

    Args:
        forward (str): The ego's forward direction in the frame.
        frame (str): The frame's name, for the labels.

    Raises:
        ValueError: ``forward`` is not one of ``+x``, ``+y``, ``-x``, ``-y``.
    """
    if forward not in DIRECTIONS:
        raise ValueError(f'forward must be one of {sorted(DIRECTIONS)}, got {forward!r}')
    fx, fy = DIRECTIONS[forward]
    left = (-fy, fx)  # forward turned by +90° about z (right-handed, z up)
    vertical = 'x' if fx else 'y'
    horizontal = 'y' if vertical == 'x' else 'x'
    left_sign = left[1] if horizontal == 'y' else left[0]
    labels = (f'{horizontal} ({frame}; ego {"left" if left_sign > 0 else "right"}) [m]',
              f'{vertical} ({frame}; ego {"forward" if (fx or fy) > 0 else "backward"}) [m]')
    # the left is on the left: positive left values decrease to the right
    return BEVAxes(swap=vertical == 'x', flip_h=left_sign > 0, flip_v=(fx or fy) < 0,
                   forward=forward, labels=labels)


def forward_axis_of(lidar2ego: Optional[np.ndarray]) -> str:
    """The frame direction (``'+x'`` ...) nearest to the ego's forward axis.

    Args:
        lidar2ego (np.ndarray, optional): ``(4, 4)`` or ``(3, 3)`` sensor-to-ego transform; None
            means the frame is the ego's own (x forward), as in KITTI's Velodyne frame.

    Returns:
        str: a :data:`DIRECTIONS` key (nuScenes' ``LIDAR_TOP``: ``'+y'``).

    Raises:
        ValueError: ``lidar2ego`` is not a 3x3 / 4x4 matrix.
    """
    if lidar2ego is None:
        return '+x'
    matrix = np.asarray(lidar2ego, dtype=np.float64)
    if matrix.shape not in ((4, 4), (3, 3)):
        raise ValueError(f'lidar2ego must be a (4, 4) or (3, 3) matrix, got shape '
                         f'{matrix.shape}')
    forward = matrix[0, :2]  # the ego's x axis in sensor coordinates (row 0 of the rotation)
    return max(DIRECTIONS, key=lambda k: float(np.dot(DIRECTIONS[k], forward)))


def ego_arrow(forward: str = '+x') -> np.ndarray:
    """``(3, 2)`` frame x-y of the ego marker (an arrow head at the origin along ``forward``)."""
    fx, fy = DIRECTIONS[forward]
    shape = np.array([[2.5, 0.0], [-1.5, 1.0], [-1.5, -1.0]])  # along +x
    rotation = np.array([[fx, -fy], [fy, fx]])
    return shape @ rotation.T
