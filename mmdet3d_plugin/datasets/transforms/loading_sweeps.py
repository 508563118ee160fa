"""Multi-sweep LiDAR loading that keeps the ring index: ``LoadSweepsWithRing``.

mmdet3d's ``LoadPointsFromMultiSweeps`` overwrites column 4 (the ring index of nuScenes
``.pcd.bin`` files) with the time lag, so ring-based corruptions (``BeamReduction``) can only
run before it and never see the sweeps. This loader keeps the ring and appends the time lag:
output columns are ``x, y, z, intensity, ring, time_lag``.

Sweep-to-keyframe transform. Info files store ``lidar2sensor``, the inverse of the 4x4
``sensor2lidar = [[R, t], [0, 1]]`` that maps sweep-sensor coordinates to the keyframe LiDAR.
The exact mapping of a row-vector point ``p`` is ``p @ R.T + t``. mmdet3d 1.4 applies
``p @ lidar2sensor[:3, :3] - lidar2sensor[:3, 3]`` instead; since
``lidar2sensor = [[R.T, -R.T @ t], [0, 1]]`` that is ``p @ R.T + R.T @ t``, which equals the
exact result only when the ego has not turned between the sweep and the keyframe (``R = I``);
otherwise every sweep point is shifted by ``R.T @ t - t`` (a few centimetres to decimetres while
the ego turns). This loader inverts ``lidar2sensor`` and applies ``p @ R.T + t``.
"""
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmdet3d_plugin.registry import TRANSFORMS
from .corruptions.base import get_points, keep_points
from .corruptions.lidar import beam_keep_mask
from .loading_multiview import rigid_inverse
from .loading_points import NON_FINITE_MODES, finite_rows, read_points_file
from .point_ops import affine_xyz_

#: Most sweeps an info file holds (``create_nuscenes_infos(max_sweeps<=40)``).
MAX_SWEEPS = 40


def _check_int(name: str, value, low: int, high: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
            high is not None and value > high):
        bound = f'in [{low}, {high}]' if high is not None else f'>= {low}'
        raise ValueError(f'LoadSweepsWithRing: {name} must be an int {bound}, got {value!r}')
    return int(value)


@TRANSFORMS.register_module()
class LoadSweepsWithRing(BaseTransform):
    """Append LiDAR sweeps to the keyframe points, keeping the ring index.

    Place it right after ``LoadPointsFromFile(coord_type='LIDAR', load_dim=5, use_dim=5)``.
    Point-wise annotations (``pts_semantic_mask``) keep covering the keyframe points only (the
    first rows), as with mmdet3d's loader; they are filtered with the keyframe points when
    ``beam_reduction`` or ``remove_close`` drops some.

    Args:
        sweeps_num (int): Sweeps to add, in [0, 40]. Defaults to 10.
        load_dim (int): Float32 columns per point in the sweep files. Defaults to 5
            (nuScenes ``x, y, z, intensity, ring``).
        ring_dim (int): Column holding the ring index, in the files and in the keyframe
            ``results['points']``. Defaults to 4.
        keep_ring (bool): Output ``x, y, z, intensity, ring, time_lag`` (6 columns). False drops
            the ring after any beam reduction and outputs mmdet3d's 5-column layout
            ``x, y, z, intensity, time_lag``. Defaults to True.
        beam_reduction (int, optional): Keep only this many evenly spaced rings
            (:func:`beam_keep_mask`, MetaBEV's 32 -> 16/8/4/1) in the keyframe and in every
            sweep. None keeps all. Defaults to None.
        source_beams (int): Beams of the sensor. Defaults to 32.
        pad_empty_sweeps (bool): When the sample has no sweeps (``lidar_sweeps`` absent or
            empty), repeat the keyframe ``sweeps_num`` times with time lag 0. Defaults to False.
        remove_close (bool): Drop sweep points (and the padded keyframe copies) with
            ``|x| < close_radius`` and ``|y| < close_radius`` in their sensor frame, as mmdet3d
            does. Defaults to False.
        close_radius (float): See ``remove_close``. Defaults to 1.0 (metres).
        test_mode (bool): Take the ``sweeps_num`` nearest sweeps instead of a random subset
            when more are available. Defaults to False.
        sweep_pool (int, optional): Training draws its random ``sweeps_num`` from the nearest
            ``max(sweeps_num, sweep_pool)`` sweeps of the info, so the time span a model trains
            on does not depend on how many sweeps the info files hold: BEVFusion's 9 of 10
            (mmdet3d's infos hold 10) stays 9 of the nearest 10 with infos made for 40-sweep
            models (``create_data.py --max-sweeps 40``), and the test's nearest 9 lie inside
            the training span. None draws from all the info's sweeps (mmdet3d's
            ``LoadPointsFromMultiSweeps``). Defaults to 10.
        non_finite (str): ``'error'`` raises ``ValueError`` naming a sweep file with NaN/inf
            values; ``'drop'`` drops those points. Defaults to ``'error'``.
        backend_args (dict, optional): mmengine file backend arguments. Defaults to None.
    """

    def __init__(self, sweeps_num: int = 10, load_dim: int = 5, ring_dim: int = 4,
                 keep_ring: bool = True, beam_reduction: Optional[int] = None,
                 source_beams: int = 32, pad_empty_sweeps: bool = False,
                 remove_close: bool = False, close_radius: float = 1.0, test_mode: bool = False,
                 sweep_pool: Optional[int] = 10, non_finite: str = 'error',
                 backend_args: Optional[dict] = None) -> None:
        if non_finite not in NON_FINITE_MODES:
            raise ValueError(f'LoadSweepsWithRing: non_finite must be one of {NON_FINITE_MODES}, '
                             f'got {non_finite!r}')
        self.non_finite = non_finite
        self.sweeps_num = _check_int('sweeps_num', sweeps_num, 0, MAX_SWEEPS)
        self.load_dim = _check_int('load_dim', load_dim, 5)
        self.ring_dim = _check_int('ring_dim', ring_dim, 4, self.load_dim - 1)
        self.source_beams = _check_int('source_beams', source_beams, 1)
        if beam_reduction is not None:
            beam_reduction = _check_int('beam_reduction', beam_reduction, 1, self.source_beams)
            if self.source_beams % beam_reduction:
                raise ValueError(f'LoadSweepsWithRing: beam_reduction={beam_reduction} must '
                                 f'divide source_beams={self.source_beams}')
        if not close_radius > 0:
            raise ValueError(f'LoadSweepsWithRing: close_radius must be > 0, got {close_radius}')
        self.keep_ring = bool(keep_ring)
        self.beam_reduction = beam_reduction
        self.pad_empty_sweeps = bool(pad_empty_sweeps)
        self.remove_close = bool(remove_close)
        self.close_radius = float(close_radius)
        self.test_mode = bool(test_mode)
        self.sweep_pool = (None if sweep_pool is None else
                           _check_int('sweep_pool', sweep_pool, 1, MAX_SWEEPS))
        self.backend_args = backend_args

    # ------------------------------------------------------------------ helpers
    def _columns(self) -> List[int]:
        """Columns ``x, y, z, intensity, ring`` of a loaded point array."""
        return [0, 1, 2, 3, self.ring_dim]

    def _keep(self, array: np.ndarray) -> np.ndarray:
        """Boolean (N,) mask of the points kept by ``beam_reduction`` and ``remove_close``.

        Args:
            array (np.ndarray): (N, 5) ``x, y, z, intensity, ring`` in the sensor frame.
        """
        keep = np.ones(len(array), dtype=bool)
        if self.beam_reduction is not None:
            keep &= beam_keep_mask(array[:, 4], self.beam_reduction, self.source_beams)
        if self.remove_close:
            keep &= ~((np.abs(array[:, 0]) < self.close_radius)
                      & (np.abs(array[:, 1]) < self.close_radius))
        return keep

    def _check_rings(self, rings: np.ndarray, source: str) -> None:
        valid = (rings == np.rint(rings)) & (rings >= 0) & (rings < self.source_beams)
        if not valid.all():
            raise ValueError(
                f'LoadSweepsWithRing: column ring_dim={self.ring_dim} of {source} must hold '
                f'integer ring indices in [0, {self.source_beams}), found e.g. '
                f'{rings[~valid][:3].tolist()}; load the keyframe with LoadPointsFromFile('
                'load_dim=5, use_dim=5) and do not run LoadPointsFromMultiSweeps before this')

    def load_sweep(self, path: str) -> np.ndarray:
        """Read a sweep file.

        Args:
            path (str): ``.pcd.bin`` file of float32 points with ``load_dim`` columns.

        Returns:
            np.ndarray: (M, 5) float32 ``x, y, z, intensity, ring`` in the sweep-sensor frame.

        Raises:
            FileNotFoundError: naming ``path`` when it does not exist.
            ValueError: naming ``path`` when its size is not a multiple of the point size, it
                holds NaN/inf values (unless ``non_finite='drop'``) or its ring column is not a
                ring index.
        """
        array = read_points_file(path, self.load_dim, 'LoadSweepsWithRing', self.backend_args)
        keep = finite_rows(array, path, 'LoadSweepsWithRing', self.non_finite == 'drop')
        if keep is not None:
            array = array[keep]
        array = array[:, self._columns()]
        self._check_rings(array[:, 4], f'sweep file {path}')
        return array

    def _choose(self, num_available: int) -> np.ndarray:
        if num_available <= self.sweeps_num:
            return np.arange(num_available)
        if self.test_mode:
            return np.arange(self.sweeps_num)
        if self.sweep_pool is not None:
            num_available = min(num_available, max(self.sweeps_num, self.sweep_pool))
        return np.sort(np.random.choice(num_available, self.sweeps_num, replace=False))

    def _sweep_points(self, sweep: Dict, timestamp: float) -> Tuple[np.ndarray, float]:
        """(M, 5) sweep points ``x, y, z, intensity, ring`` in the keyframe LiDAR frame and
        their time lag (seconds)."""
        lidar_points = sweep.get('lidar_points') or {}
        for key in ('lidar_path', 'lidar2sensor'):
            if key not in lidar_points:
                raise KeyError(f"LoadSweepsWithRing: a lidar_sweeps entry lacks "
                               f"['lidar_points']['{key}'] (got {sorted(lidar_points)})")
        if 'timestamp' not in sweep:
            raise KeyError("LoadSweepsWithRing: a lidar_sweeps entry lacks 'timestamp' "
                           f"(sweep file {lidar_points['lidar_path']})")
        array = self.load_sweep(lidar_points['lidar_path'])  # a fresh copy
        keep = self._keep(array)
        if not keep.all():
            array = array[keep]
        sensor2lidar = rigid_inverse(np.asarray(lidar_points['lidar2sensor'], dtype=np.float64))
        affine_xyz_(array, sensor2lidar)  # float32, the files' precision (~1e-5 m at 100 m)
        return array, float(timestamp) - float(sweep['timestamp'])

    def _assemble(self, parts: List[Tuple[np.ndarray, float]]) -> np.ndarray:
        """One (sum M_i, 6 or 5) float32 array of the (M_i, 5) parts with their time lags."""
        columns = 6 if self.keep_ring else 5
        out = np.empty((sum(len(part) for part, _ in parts), columns), dtype=np.float32)
        start = 0
        for part, lag in parts:
            stop = start + len(part)
            out[start:stop, :columns - 1] = part[:, :columns - 1]
            out[start:stop, columns - 1] = lag
            start = stop
        return out

    # ------------------------------------------------------------------ transform
    def transform(self, results: Dict) -> Dict:
        """Load the sweeps and append them to ``results['points']``.

        Args:
            results (dict): Needs ``points`` (LiDARPoints (N, C), C > ``ring_dim``, columns
                x, y, z, intensity and the ring in ``ring_dim``), ``timestamp`` (seconds) and,
                unless padding, ``lidar_sweeps`` (each with ``lidar_points.lidar_path``,
                ``lidar_points.lidar2sensor`` (4, 4) and ``timestamp`` in seconds).

        Returns:
            dict: ``results`` with ``points`` of shape (N' + sum M_i, 6) columns
            ``x, y, z, intensity, ring, time_lag`` (5 columns without the ring when
            ``keep_ring=False``), keyframe rows first with time lag 0.
        """
        points = get_points(results, 'LoadSweepsWithRing')
        if points.tensor.shape[1] <= self.ring_dim:
            raise ValueError(f"LoadSweepsWithRing: results['points'] has "
                             f'{points.tensor.shape[1]} columns, expected the ring in column '
                             f'{self.ring_dim} (LoadPointsFromFile(load_dim=5, use_dim=5))')
        if 'timestamp' not in results:
            raise KeyError("LoadSweepsWithRing needs results['timestamp'] (seconds) to compute "
                           f'time lags; got keys {sorted(results)}')
        key_array = points.tensor.detach().cpu().float().numpy()[:, self._columns()]
        self._check_rings(key_array[:, 4], "results['points']")
        if self.beam_reduction is not None:
            keep = beam_keep_mask(key_array[:, 4], self.beam_reduction, self.source_beams)
            keep_points(results, keep)
            key_array = key_array[keep]
        parts = [(key_array, 0.0)]
        sweeps = results.get('lidar_sweeps') or []
        if not sweeps and self.pad_empty_sweeps:
            padded = key_array[self._keep(key_array)]
            parts.extend([(padded, 0.0)] * self.sweeps_num)
        for index in self._choose(len(sweeps)):
            parts.append(self._sweep_points(sweeps[index], results['timestamp']))
        array = self._assemble(parts)
        results['points'] = type(points)(
            torch.from_numpy(array).to(points.tensor.device), points_dim=array.shape[1],
            attribute_dims=None)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(sweeps_num={self.sweeps_num}, keep_ring={self.keep_ring}, '
                f'beam_reduction={self.beam_reduction}, pad_empty_sweeps='
                f'{self.pad_empty_sweeps}, remove_close={self.remove_close}, '
                f'test_mode={self.test_mode}, sweep_pool={self.sweep_pool})')
