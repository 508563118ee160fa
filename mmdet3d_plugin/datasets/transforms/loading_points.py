"""Checked LiDAR point loading: mmdet3d's ``LoadPointsFromFile`` with errors that name the file.

mmdet3d's loader turns a truncated or wrongly sized ``.bin`` into an opaque numpy reshape error,
passes NaN/inf through to the voxeliser and says nothing about an empty file. This subclass is
registered in Drive3D's scope under the **same name**, ``LoadPointsFromFile`` (listed in
``registry.INTENTIONAL_OVERRIDES``), so every config with ``default_scope='mmdet3d_plugin'`` --
stock mmdet3d configs included -- gets the checks without edits. Arguments and output are
mmdet3d's; checks:

* missing file -> ``FileNotFoundError`` naming the path (and the sample token);
* byte size not a multiple of ``load_dim * 4`` (a truncated file, or ``load_dim`` wrong for the
  file: nuScenes ``.pcd.bin`` has 5 float32 columns, KITTI ``.bin`` 4) -> ``ValueError`` naming
  the file, its byte size and ``load_dim``;
* NaN/inf values -> ``ValueError`` naming the file and how many points hold them, or, with
  ``non_finite='drop'``, those points are dropped with one warning per loader;
* an empty file (0 bytes) is a valid, empty scan: ``points`` of shape ``(0, len(use_dim))``
  with one warning per loader (``on_empty='error'`` raises ``ValueError`` instead). Downstream
  transforms, ``Pack3DDetInputs`` and ``Det3DDataPreprocessor`` accept it; a model sees a
  sample without points (as after the ``MissingLiDAR`` corruption, which additionally sets
  ``results['lidar_missing'] = True``; an empty file does not, since sweeps may add points).

``.npy`` files (``np.load``) get the same NaN/empty checks.
"""
import warnings
from typing import Dict, Optional

import numpy as np
from mmdet3d.datasets.transforms.loading import LoadPointsFromFile as _MMDet3DLoadPointsFromFile
from mmengine.fileio import get

from mmdet3d_plugin.registry import TRANSFORMS

NON_FINITE_MODES = ('error', 'drop')
EMPTY_MODES = ('warn', 'error')


def sample_name(results: Optional[Dict]) -> str:
    """``" (sample token <t>)"`` for error messages, or ``''`` when ``results`` has no token."""
    token = (results or {}).get('token')
    return f' (sample token {token})' if token else ''


def read_points_file(path: str, load_dim: int, owner: str, backend_args: Optional[dict] = None,
                     results: Optional[Dict] = None) -> np.ndarray:
    """Read a float32 point file and check its size.

    Args:
        path (str): ``.bin`` of float32 rows with ``load_dim`` columns, or ``.npy``.
        load_dim (int): Columns per point.
        owner (str): Transform name used in error messages.
        backend_args (dict, optional): mmengine file backend arguments.
        results (dict, optional): The sample's results, to name its token in errors.

    Returns:
        np.ndarray: (N, load_dim) float32, read-only view of the file bytes for ``.bin``.

    Raises:
        FileNotFoundError: naming ``path``. ValueError: naming ``path``, its byte size and
            ``load_dim`` when the size is not a whole number of points.
    """
    try:
        data = get(path, backend_args=backend_args)
    except FileNotFoundError as error:
        raise FileNotFoundError(f'{owner}: point cloud file not found: {path}'
                                f'{sample_name(results)}') from error
    if path.endswith('.npy'):
        import io
        array = np.load(io.BytesIO(data)).astype(np.float32, copy=False)
        if array.ndim != 2 or array.shape[1] != load_dim:
            raise ValueError(f'{owner}: {path} holds an array of shape {array.shape}, expected '
                             f'(N, {load_dim}) for load_dim={load_dim}{sample_name(results)}')
        return array
    point_bytes = 4 * load_dim
    if len(data) % point_bytes:
        raise ValueError(
            f'{owner}: {path} has {len(data)} bytes, not a multiple of load_dim * 4 = '
            f'{point_bytes} (load_dim={load_dim} float32 columns per point): the file is '
            f'truncated or load_dim is wrong for it (nuScenes .pcd.bin: 5, KITTI .bin: 4)'
            f'{sample_name(results)}')
    return np.frombuffer(data, dtype=np.float32).reshape(-1, load_dim)


def finite_rows(array: np.ndarray, path: str, owner: str, drop: bool,
                results: Optional[Dict] = None) -> np.ndarray:
    """Boolean (N,) mask of rows without NaN/inf, or an error naming ``path`` when not ``drop``.

    Returns:
        np.ndarray or None: None when every row is finite (the common case, no mask needed).
    """
    if np.isfinite(array.sum()):  # fast path: a NaN/inf anywhere makes the sum non-finite
        return None
    finite = np.isfinite(array).all(axis=1)
    if finite.all():  # only a float32 overflow of the sum
        return None
    bad = int((~finite).sum())
    if not drop:
        raise ValueError(f'{owner}: {path} holds {bad} of {len(array)} points with NaN/inf '
                         f"values; fix the file or pass non_finite='drop' to drop them"
                         f'{sample_name(results)}')
    return finite


@TRANSFORMS.register_module(name='LoadPointsFromFile')
class CheckedLoadPointsFromFile(_MMDet3DLoadPointsFromFile):
    """mmdet3d's ``LoadPointsFromFile`` with checked reads (see the module docstring).

    Args:
        non_finite (str): ``'error'`` (default) raises on NaN/inf values; ``'drop'`` drops the
            points holding them (one warning per loader).
        on_empty (str): ``'warn'`` (default): an empty file gives ``(0, C)`` points and one
            warning per loader; ``'error'`` raises ``ValueError``.
        **kwargs: mmdet3d's ``LoadPointsFromFile`` arguments (``coord_type``, ``load_dim``,
            ``use_dim``, ``shift_height``, ``use_color``, ``norm_intensity``,
            ``norm_elongation``, ``backend_args``).
    """

    def __init__(self, *args, non_finite: str = 'error', on_empty: str = 'warn',
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if non_finite not in NON_FINITE_MODES:
            raise ValueError(f'LoadPointsFromFile: non_finite must be one of {NON_FINITE_MODES}, '
                             f'got {non_finite!r}')
        if on_empty not in EMPTY_MODES:
            raise ValueError(f'LoadPointsFromFile: on_empty must be one of {EMPTY_MODES}, got '
                             f'{on_empty!r}')
        self.non_finite = non_finite
        self.on_empty = on_empty
        self._warned = set()
        self._results = None

    def _warn_once(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            warnings.warn(message + ' (warned once per loader)', stacklevel=3)

    def _load_points(self, pts_filename: str) -> np.ndarray:
        """Read, check and return the flat float32 values of ``pts_filename``."""
        results = self._results
        array = read_points_file(pts_filename, self.load_dim, 'LoadPointsFromFile',
                                 self.backend_args, results)
        if len(array) == 0:
            if self.on_empty == 'error':
                raise ValueError(f'LoadPointsFromFile: {pts_filename} is empty (0 points)'
                                 f"{sample_name(results)}; on_empty='warn' accepts empty scans")
            self._warn_once('empty', f'LoadPointsFromFile: {pts_filename} is empty; the sample '
                                     f'has 0 keyframe points{sample_name(results)}')
        keep = finite_rows(array, pts_filename, 'LoadPointsFromFile',
                           self.non_finite == 'drop', results)
        if keep is not None:
            self._warn_once('non_finite', f'LoadPointsFromFile: dropped {int((~keep).sum())} '
                                          f'points with NaN/inf values from {pts_filename}')
            array = array[keep]
        return array.reshape(-1)  # mmdet3d reshapes it and copies the use_dim columns

    def transform(self, results: Dict) -> Dict:
        """Load ``results['lidar_points']['lidar_path']`` into ``results['points']``.

        Args:
            results (dict): Needs ``lidar_points['lidar_path']``.

        Returns:
            dict: ``results`` with ``points`` (``LiDARPoints`` etc., (N, len(use_dim))).

        Raises:
            KeyError: naming the missing key and the sample token.
        """
        lidar_points = results.get('lidar_points')
        if not isinstance(lidar_points, dict) or 'lidar_path' not in lidar_points:
            raise KeyError(f"LoadPointsFromFile needs results['lidar_points']['lidar_path']"
                           f'{sample_name(results)}; got keys {sorted(results)}')
        self._results = results
        try:
            return super().transform(results)
        finally:
            self._results = None

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(coord_type={self.coord_type!r}, load_dim={self.load_dim}, '
                f'use_dim={self.use_dim}, non_finite={self.non_finite!r}, '
                f'on_empty={self.on_empty!r})')
