"""Multi-view camera loading with calibration matrices: ``LoadMultiViewImages``.

Reads the cameras of an mmdet3d v2 info (``results['images'][cam]`` with ``img_path``,
``cam2img`` (3x3 or 4x4) and ``lidar2cam`` (4x4)) in a fixed, configurable order and writes the
contract the BEV models of Drive3D rely on (N views, H x W images):

* ``img``: list of N ``(H, W, 3)`` arrays, float32 in [0, 255] (uint8 with
  ``to_float32=False``), **BGR** channel order -- what mmdet3d's ``LoadMultiViewImageFromFiles``
  gives (``mmcv.imfrombytes``, OpenCV decoding). Set ``bgr_to_rgb=True`` in the data
  preprocessor for RGB-trained backbones. All views must share one size.
* ``img_shape`` = ``ori_shape`` = ``pad_shape`` = ``(H, W)``; ``num_views`` = N; ``cam_names``
  (list of N str); ``img_path`` (list of N str).
* ``cam2img`` (N, 4, 4) float32: intrinsics padded to 4x4; ``lidar2cam`` (N, 4, 4);
  ``lidar2img`` = ``cam2img @ lidar2cam`` (N, 4, 4); ``cam2lidar`` = ``inv(lidar2cam)``
  (N, 4, 4); ``img_aug_matrix`` (N, 4, 4) identity (``ImageAug3D`` updates it). Pixel
  coordinates follow OpenCV / the nuScenes devkit: ``(u, v) = (column, row)`` with pixel
  centres at integers, ``[u*d, v*d, d, 1] = lidar2img @ [x, y, z, 1]`` (``d`` the depth).

Failures: a missing image file raises ``FileNotFoundError`` naming the camera, the path and the
sample token; an unreadable or truncated file raises ``ValueError`` naming it. A camera absent
from ``results['images']`` raises ``KeyError`` naming it and the cameras present; with
``missing_camera='blank'`` (for sensor-failure studies) it becomes an all-zero image of the
other views' size, identity ``cam2img``/``lidar2cam`` (meaningless: models must mask the
view), and its index is added to ``dropped_views`` (``camera_missing`` becomes True when no view
is left), exactly as the ``ViewDrop`` / ``MissingCamera`` corruptions record it.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.fileio import get

from mmdet3d_plugin.registry import TRANSFORMS
from mmdet3d_plugin.structures.nuscenes_names import NUSCENES_CAMERAS
from .corruptions.base import mark_dropped_views
from .loading_points import sample_name

MISSING_CAMERA_MODES = ('error', 'blank')


def pad_intrinsics(cam2img, where: str) -> np.ndarray:
    """(4, 4) float64 intrinsics from a (3, 3) or (4, 4) ``cam2img``."""
    matrix = np.asarray(cam2img, dtype=np.float64)
    if matrix.shape == (4, 4):
        return matrix
    if matrix.shape != (3, 3):
        raise ValueError(f'{where}: cam2img must be (3, 3) or (4, 4), got {matrix.shape}')
    padded = np.eye(4)
    padded[:3, :3] = matrix
    return padded


def rigid_inverse(matrices: np.ndarray) -> np.ndarray:
    """Inverse of (..., 4, 4) rigid transforms ``[[R, t], [0, 1]]`` as ``[[R^T, -R^T t], [0, 1]]``
    (exact and much cheaper than ``np.linalg.inv`` for stacks of small matrices); falls back
    to ``np.linalg.inv`` when a matrix is not rigid."""
    matrices = np.asarray(matrices, dtype=np.float64)
    rotation = matrices[..., :3, :3]
    eye = np.eye(3)
    if not (np.abs(rotation @ np.swapaxes(rotation, -1, -2) - eye).max(initial=0) < 1e-6
            and np.abs(matrices[..., 3, :] - (0, 0, 0, 1)).max(initial=0) < 1e-9):
        return np.linalg.inv(matrices)
    inverse = np.zeros_like(matrices)
    inverse[..., :3, :3] = np.swapaxes(rotation, -1, -2)
    inverse[..., :3, 3] = -np.einsum('...ji,...j->...i', rotation, matrices[..., :3, 3])
    inverse[..., 3, 3] = 1.0
    return inverse


def _check_complete(data: bytes, path: str, camera: str) -> None:
    """Raise ValueError when a JPEG/PNG file is cut short (OpenCV would decode it partially)."""
    tail = data.rstrip(b'\0')[-12:]
    truncated = ((data[:2] == b'\xff\xd8' and not tail.endswith(b'\xff\xd9'))
                 or (data[:4] == b'\x89PNG' and b'IEND' not in tail))
    if truncated:
        raise ValueError(f'LoadMultiViewImages: image file of {camera} is truncated ({len(data)} '
                         f'bytes, no end-of-image marker): {path}')


def decode_image(data: bytes, path: str, camera: str) -> np.ndarray:
    """Decode JPEG/PNG bytes to a (H, W, 3) uint8 BGR array, or raise ValueError naming ``path``."""
    _check_complete(data, path, camera)
    image = None
    if data:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'LoadMultiViewImages: cannot decode the image file of {camera} '
                         f'({len(data)} bytes; not a readable JPEG/PNG): {path}')
    return image


@TRANSFORMS.register_module()
class LoadMultiViewImages(BaseTransform):
    """Load the cameras of a sample with their calibration (see the module docstring).

    Args:
        cameras (Sequence[str]): Camera names, in output order. Defaults to the six nuScenes
            cameras in mmdet3d's order (``NUSCENES_CAMERAS``).
        to_float32 (bool): Output float32 images (the contract); False keeps uint8.
            Defaults to True.
        missing_camera (str): ``'error'`` (default) or ``'blank'`` for a camera absent from
            ``results['images']``.
        backend_args (dict, optional): mmengine file backend arguments. Defaults to None.
    """

    def __init__(self, cameras: Sequence[str] = NUSCENES_CAMERAS, to_float32: bool = True,
                 missing_camera: str = 'error', backend_args: Optional[dict] = None) -> None:
        cameras = tuple(cameras)
        if not cameras or len(set(cameras)) != len(cameras) or not all(
                isinstance(cam, str) for cam in cameras):
            raise ValueError(f'LoadMultiViewImages: cameras must be distinct names, got {cameras!r}')
        if missing_camera not in MISSING_CAMERA_MODES:
            raise ValueError(f'LoadMultiViewImages: missing_camera must be one of '
                             f'{MISSING_CAMERA_MODES}, got {missing_camera!r}')
        self.cameras = cameras
        self.to_float32 = bool(to_float32)
        self.missing_camera = missing_camera
        self.backend_args = backend_args

    def _read(self, camera: str, info: Dict, results: Dict) -> Tuple[np.ndarray, str]:
        for key in ('img_path', 'cam2img', 'lidar2cam'):
            if key not in info:
                raise KeyError(f"LoadMultiViewImages: results['images']['{camera}'] lacks "
                               f"'{key}'{sample_name(results)}; it has {sorted(info)}")
        path = info['img_path']
        try:
            data = get(path, backend_args=self.backend_args)
        except FileNotFoundError as error:
            raise FileNotFoundError(f'LoadMultiViewImages: image file of {camera} not found: '
                                    f'{path}{sample_name(results)}') from error
        return decode_image(data, path, camera), path

    def transform(self, results: Dict) -> Dict:
        """Load the images and calibration of ``cameras``.

        Args:
            results (dict): Needs ``images`` (dict camera name -> ``img_path``, ``cam2img``,
                ``lidar2cam``), as mmdet3d's ``NuScenesDataset`` gives with
                ``modality=dict(use_camera=True)``.

        Returns:
            dict: ``results`` with the keys of the module docstring.
        """
        images = results.get('images')
        if not isinstance(images, dict):
            raise KeyError(f"LoadMultiViewImages needs results['images'] (camera name -> info)"
                           f'{sample_name(results)}; got keys {sorted(results)} (set '
                           "modality=dict(use_camera=True) in the dataset)")
        loaded: List[Optional[np.ndarray]] = []
        paths, cam2img, lidar2cam, blank = [], [], [], []
        for view, camera in enumerate(self.cameras):
            if camera not in images:
                if self.missing_camera == 'error':
                    raise KeyError(f"LoadMultiViewImages: camera {camera} is not in results"
                                   f"['images']{sample_name(results)}; cameras present: "
                                   f"{sorted(images)} (missing_camera='blank' loads it as an "
                                   'all-zero dropped view)')
                loaded.append(None)
                paths.append('')
                cam2img.append(np.eye(4))
                lidar2cam.append(np.eye(4))
                blank.append(view)
                continue
            image, path = self._read(camera, images[camera], results)
            loaded.append(image)
            paths.append(path)
            cam2img.append(pad_intrinsics(images[camera]['cam2img'],
                                          f"results['images']['{camera}']"))
            lidar2cam.append(np.asarray(images[camera]['lidar2cam'], dtype=np.float64))
        shapes = {image.shape for image in loaded if image is not None}
        if len(shapes) > 1:
            sizes = {cam: image.shape[:2] for cam, image in zip(self.cameras, loaded)
                     if image is not None}
            raise ValueError(f'LoadMultiViewImages: all views must share one size, got {sizes}'
                             f'{sample_name(results)}')
        if not shapes:
            raise ValueError(f'LoadMultiViewImages: none of the cameras {list(self.cameras)} is '
                             f"in results['images']{sample_name(results)} (present: "
                             f'{sorted(images)}); no image size to blank them with')
        shape = shapes.pop()
        dtype = np.float32 if self.to_float32 else np.uint8
        results['img'] = [np.zeros(shape, dtype) if image is None else image.astype(dtype)
                          for image in loaded]
        results['img_path'] = paths
        results['cam_names'] = list(self.cameras)
        results['num_views'] = len(self.cameras)
        results['img_shape'] = results['ori_shape'] = results['pad_shape'] = shape[:2]
        self.set_geometry(results, np.stack(cam2img), np.stack(lidar2cam))
        if blank:
            mark_dropped_views(results, blank, len(self.cameras))
        return results

    @staticmethod
    def set_geometry(results: Dict, cam2img: np.ndarray, lidar2cam: np.ndarray) -> None:
        """Write ``cam2img``, ``lidar2cam``, ``lidar2img``, ``cam2lidar`` and an identity
        ``img_aug_matrix``, all (N, 4, 4) float32, computed in float64."""
        num_views = len(cam2img)
        results['cam2img'] = cam2img.astype(np.float32)
        results['lidar2cam'] = lidar2cam.astype(np.float32)
        results['lidar2img'] = (cam2img @ lidar2cam).astype(np.float32)
        results['cam2lidar'] = rigid_inverse(lidar2cam).astype(np.float32)
        results['img_aug_matrix'] = np.tile(np.eye(4, dtype=np.float32), (num_views, 1, 1))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(cameras={list(self.cameras)}, to_float32='
                f'{self.to_float32}, missing_camera={self.missing_camera!r})')
