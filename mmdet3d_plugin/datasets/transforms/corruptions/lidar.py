"""LiDAR corruptions of MetaBEV's suite: Limited Field, Beam Reduction and Missing LiDAR.

They act on ``results['points']``, an mmdet3d ``BasePoints`` whose tensor is (N, C) with columns
x, y, z, intensity, ring, ... . Point-wise annotations (``pts_semantic_mask``,
``pts_instance_mask``) are filtered with the points; nothing else in ``results`` changes.

Pipeline placement:
    * ``BeamReduction`` reads the ring index column (``ring_dim``, column 4 of nuScenes
      ``.pcd.bin`` files loaded with ``use_dim=5``). It must run right after
      ``LoadPointsFromFile`` and **before** ``LoadPointsFromMultiSweeps``, which overwrites
      column 4 with the time lag. Sweeps loaded afterwards keep all their beams; a multi-sweep
      loader that reduces beams can reuse :func:`beam_keep_mask` on each sweep.
    * ``LimitedField`` and ``MissingLiDAR`` go after sweep loading (so sweeps are cut or removed
      too) and before geometric augmentation (``GlobalRotScaleTrans``, flips), which would turn
      the LiDAR frame away from the vehicle's forward direction.

In training pipelines they run inside ``RandomCorruption`` (training.py), placed by
``mmdet3d_plugin.robustness.insert_training_corruption`` (BeamReduction after a
``LoadSweepsWithRing(keep_ring=True)`` with ``drop_ring``, so sweeps lose the beams too).
"""
import math
from typing import Dict, Optional

import numpy as np

from mmdet3d_plugin.registry import TRANSFORMS
from .base import SeededCorruption, get_points, keep_points


def forward_azimuth_from_lidar2ego(lidar2ego) -> float:
    """Return the azimuth (degrees, counter-clockwise from the LiDAR +x axis) of ego forward.

    Args:
        lidar2ego (array-like): (4, 4) or (3, 3) transform from LiDAR to ego coordinates; the
            ego frame has x forward. Its first rotation row is ego +x expressed in the LiDAR
            frame. nuScenes' LIDAR_TOP gives about 90 degrees (the sensor's +y points forward).

    Returns:
        float: Azimuth in degrees in (-180, 180].
    """
    rotation = np.asarray(lidar2ego, dtype=np.float64)[:3, :3]
    return math.degrees(math.atan2(rotation[0, 1], rotation[0, 0]))


@TRANSFORMS.register_module()
class LimitedField(SeededCorruption):
    """Keep only the LiDAR points inside a horizontal field of view centred on ego forward.

    A point at azimuth ``a`` (``atan2(y, x)``) is kept when the wrapped angle between ``a`` and
    the forward azimuth is at most ``half_fov_deg``; ``half_fov_deg=180`` keeps every point.
    The corruption is deterministic; ``seed`` is accepted so every corruption shares one
    signature.

    Args:
        half_fov_deg (float): Half of the horizontal field of view, degrees in (0, 180]
            (MetaBEV: 180, 120, 90, 60).
        forward_azimuth_deg (float, optional): Azimuth of ego forward in the points' frame,
            degrees counter-clockwise from +x. None: derived per sample from
            ``results['lidar_points']['lidar2ego']`` when present (nuScenes: about 90),
            else 0 (mmdet3d's x-forward LiDAR frame, KITTI). Defaults to None.
        seed (int): Unused (no randomness). Defaults to 0.
    """

    uses_rng = False

    def __init__(self, half_fov_deg: float, forward_azimuth_deg: Optional[float] = None,
                 seed: int = 0) -> None:
        super().__init__(seed)
        if isinstance(half_fov_deg, bool) or not 0 < half_fov_deg <= 180:
            raise ValueError(f'LimitedField: half_fov_deg must be in (0, 180] degrees, '
                             f'got {half_fov_deg!r}')
        self.half_fov_deg = float(half_fov_deg)
        self.forward_azimuth_deg = (None if forward_azimuth_deg is None
                                    else float(forward_azimuth_deg))

    def _forward_azimuth(self, results: Dict) -> float:
        if self.forward_azimuth_deg is not None:
            return self.forward_azimuth_deg
        lidar_points = results.get('lidar_points')
        if isinstance(lidar_points, dict) and lidar_points.get('lidar2ego') is not None:
            return forward_azimuth_from_lidar2ego(lidar_points['lidar2ego'])
        return 0.0

    def apply(self, results: Dict, rng=None) -> Dict:
        """Remove the points outside the field of view.

        Args:
            results (dict): Needs ``points`` (BasePoints, (N, C)).

        Returns:
            dict: ``results`` with ``points`` (M, C), M <= N, and point-wise masks filtered.
        """
        points = get_points(results, 'LimitedField')
        if self.half_fov_deg >= 180:
            return results
        xy = points.tensor[:, :2].detach().cpu().double().numpy()
        azimuth = np.degrees(np.arctan2(xy[:, 1], xy[:, 0])) - self._forward_azimuth(results)
        relative = (azimuth + 180.0) % 360.0 - 180.0
        keep_points(results, np.abs(relative) <= self.half_fov_deg)
        return results


def beam_keep_mask(rings: np.ndarray, num_beams: int, source_beams: int = 32) -> np.ndarray:
    """Return which points belong to ``num_beams`` evenly spaced rings of ``source_beams``.

    The kept rings are ``offset + k * stride`` for ``k < num_beams``, with
    ``stride = source_beams // num_beams`` and ``offset = (stride - 1) // 2``, so a reduced scan
    stays centred in elevation: 32 -> 16 keeps rings 0, 2, ..., 30; -> 8 keeps 1, 5, ..., 29;
    -> 4 keeps 3, 11, 19, 27; -> 1 keeps ring 15.

    Args:
        rings (np.ndarray): Ring index of each point, shape (N,), integer-valued in
            [0, source_beams).
        num_beams (int): Beams to keep; must divide ``source_beams``.
        source_beams (int): Beams of the sensor. Defaults to 32.

    Returns:
        np.ndarray: Boolean mask of shape (N,).
    """
    stride = source_beams // num_beams
    rings = np.rint(np.asarray(rings)).astype(np.int64)
    return (rings % stride) == (stride - 1) // 2


@TRANSFORMS.register_module()
class BeamReduction(SeededCorruption):
    """Simulate a LiDAR with fewer beams by keeping evenly spaced rings (see ``beam_keep_mask``).

    Must run before ``LoadPointsFromMultiSweeps`` (it overwrites the ring column with the time
    lag); points whose ring column is not integer-valued in ``[0, source_beams)`` raise an error.
    Deterministic; ``seed`` is accepted so every corruption shares one signature.

    Args:
        num_beams (int): Beams to keep, a divisor of ``source_beams`` (MetaBEV: 32, 16, 8, 4, 1).
        source_beams (int): Beams of the sensor. Defaults to 32.
        ring_dim (int): Column of ``points.tensor`` holding the ring index. Defaults to 4.
        drop_ring (bool): Remove the ring column afterwards (training pipelines that make
            ``LoadSweepsWithRing(keep_ring=True)`` keep it for this transform and still give
            the model the 5-column ``keep_ring=False`` layout). Defaults to False.
        seed (int): Unused (no randomness). Defaults to 0.
    """

    uses_rng = False

    def __init__(self, num_beams: int, source_beams: int = 32, ring_dim: int = 4,
                 drop_ring: bool = False, seed: int = 0) -> None:
        super().__init__(seed)
        for name, value in (('num_beams', num_beams), ('source_beams', source_beams)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f'BeamReduction: {name} must be a positive int, got {value!r}')
        if source_beams % num_beams:
            raise ValueError(f'BeamReduction: num_beams={num_beams} must divide '
                             f'source_beams={source_beams}')
        if (isinstance(ring_dim, bool) or not isinstance(ring_dim, (int, np.integer))
                or ring_dim < 3):
            raise ValueError(f'BeamReduction: ring_dim must be an int >= 3 (columns 0-2 are '
                             f'x, y, z), got {ring_dim!r}')
        self.num_beams = int(num_beams)
        self.source_beams = int(source_beams)
        self.ring_dim = int(ring_dim)
        self.drop_ring = bool(drop_ring)

    def _rings(self, results: Dict) -> np.ndarray:
        points = get_points(results, 'BeamReduction')
        if points.tensor.shape[1] <= self.ring_dim:
            raise ValueError(
                f"BeamReduction: results['points'] has {points.tensor.shape[1]} columns, expected "
                f'a ring index in column ring_dim={self.ring_dim} (load points with '
                f'use_dim covering it, e.g. use_dim=5 for nuScenes)')
        rings = points.tensor[:, self.ring_dim].detach().cpu().double().numpy()
        valid = (rings == np.rint(rings)) & (rings >= 0) & (rings < self.source_beams)
        if not valid.all():
            bad = rings[~valid][:3].tolist()
            raise ValueError(
                f"BeamReduction: results['points'] column ring_dim={self.ring_dim} must hold "
                f'integer ring indices in [0, {self.source_beams}), found e.g. {bad}; place '
                'BeamReduction before LoadPointsFromMultiSweeps, which overwrites column 4 with '
                'the time lag')
        return rings

    def apply(self, results: Dict, rng=None) -> Dict:
        """Remove the points of the dropped rings.

        Args:
            results (dict): Needs ``points`` (BasePoints, (N, C) with C > ``ring_dim``).

        Returns:
            dict: ``results`` with ``points`` (M, C) holding ``num_beams`` distinct rings at
            most (M, C - 1 without the ring column with ``drop_ring``), and point-wise masks
            filtered.
        """
        rings = self._rings(results)
        if self.num_beams != self.source_beams:
            keep_points(results, beam_keep_mask(rings, self.num_beams, self.source_beams))
        if self.drop_ring:
            points = results['points']
            columns = [c for c in range(points.tensor.shape[1]) if c != self.ring_dim]
            tensor = points.tensor[:, columns]
            results['points'] = type(points)(tensor, points_dim=tensor.shape[1],
                                             attribute_dims=None)
        return results


@TRANSFORMS.register_module()
class MissingLiDAR(SeededCorruption):
    """Simulate a failed LiDAR: no points at all.

    Behaviour (an input state, not an error): ``results['points']`` becomes an empty points
    object of the same class with shape (0, C) (C and attribute dims unchanged), point-wise
    masks become empty, and ``results['lidar_missing'] = True``. Models read the flag (add
    ``'lidar_missing'`` to ``Pack3DDetInputs.meta_keys``; absent means False) and skip the LiDAR
    branch. Place it after ``LoadPointsFromMultiSweeps`` so sweeps are removed too.

    Args:
        seed (int): Unused (no randomness). Defaults to 0.
    """

    uses_rng = False

    def apply(self, results: Dict, rng=None) -> Dict:
        """Empty ``results['points']`` and set ``results['lidar_missing'] = True``."""
        points = get_points(results, 'MissingLiDAR')
        keep_points(results, np.zeros(len(points), dtype=bool))
        results['lidar_missing'] = True
        return results
