"""BEVFusion-style per-view image augmentation with an exact augmentation matrix: ``ImageAug3D``.

Each view is resized by ``s``, cropped to ``final_dim`` at integer offsets ``(crop_w, crop_h)``,
optionally flipped left-right and rotated by ``r`` degrees (counter-clockwise as displayed)
about the crop's centre, in **one** ``cv2.warpAffine`` (bilinear, zeros outside the source).
The sampling of ``s``, the crop, flip and ``r`` is BEVFusion's (mit-han-lab/bevfusion
``ImageAug3D``): training draws ``s ~ U(resize_lim)``, ``crop_h = int((1 - U(bot_pct_lim)) *
int(H s)) - fH``, ``crop_w = int(U(0, max(0, int(W s) - fW)))``, a fair coin for the flip when
``rand_flip`` and ``r ~ U(rot_lim)``; test (``is_train=False``) uses the means, a centred
``crop_w``, no flip and no rotation.

The matrix (BEVFusion's layout). Pixel coordinates are OpenCV's / the devkit's: ``(u, v)`` =
(column, row), pixel centres at integers. The 2D map applied to the image is

    p' = R(r) (F (s p - t) - c) + c,    t = (crop_w, crop_h),  c = ((fW - 1) / 2, (fH - 1) / 2),
    F (q) = (fW - 1 - q_u, q_v) when flipped (else identity),
    R(r) = [[cos r, sin r], [-sin r, cos r]],

and ``results['img_aug_matrix'][i]`` (4, 4) holds it as ``[[A, 0, b], [0, 0, 1, 0],
[0, 0, 0, 1]]`` with ``A`` (2, 2) in ``[:2, :2]`` and ``b`` in ``[:2, 3]``, composed on the
left of the matrix already there (identity after ``LoadMultiViewImages``). It acts on
``[u, v, d, 1]`` **after** perspective division, so for every LiDAR point ``x`` (homogeneous):

    [u d, v d, d, 1] = lidar2img @ x  ->  [u', v', d, 1] = img_aug_matrix @ [u, v, d, 1]

gives the pixel ``(u', v')`` of ``x`` in the augmented image, exactly (the warp uses the same
matrix). After ``GlobalAugmentAll``, an augmented point ``q`` maps with
``img_aug_matrix @ lidar2img @ inv(lidar_aug_matrix) @ q``. ``lidar2img``, ``cam2img`` and
``lidar2cam`` are never changed. BEVFusion's PIL-based version places flips and rotations in a
corner-origin convention (``fW - u`` and a centre at ``fW / 2``); the matrix here differs from
its by at most one pixel and is exact for the image it describes.
"""
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmdet3d_plugin.registry import TRANSFORMS
from .corruptions.base import get_images


def _range(value, name: str, low: float = -np.inf, high: float = np.inf) -> Tuple[float, float]:
    pair = tuple(float(v) for v in value)
    if len(pair) != 2 or not low <= pair[0] <= pair[1] <= high:
        raise ValueError(f'ImageAug3D: {name} must be (min, max) with {low} <= min <= max <= '
                         f'{high}, got {value!r}')
    return pair


def augmentation_affine(scale: float, crop: Tuple[int, int], flip: bool, rotate_deg: float,
                        final_dim: Tuple[int, int]) -> np.ndarray:
    """(3, 3) homogeneous 2D affine of one view (see the module docstring).

    Args:
        scale (float): Resize factor ``s``.
        crop (tuple): ``(crop_w, crop_h)`` offsets of the crop in the resized image, pixels.
        flip (bool): Flip left-right after cropping.
        rotate_deg (float): Rotation after flipping, degrees counter-clockwise as displayed.
        final_dim (tuple): ``(fH, fW)``.
    """
    final_h, final_w = final_dim
    matrix = np.array([[scale, 0.0, -crop[0]], [0.0, scale, -crop[1]], [0.0, 0.0, 1.0]])
    if flip:
        matrix = np.array([[-1.0, 0.0, final_w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ matrix
    theta = np.radians(rotate_deg)
    cos, sin = np.cos(theta), np.sin(theta)
    center = np.array([(final_w - 1) / 2.0, (final_h - 1) / 2.0])
    rotation = np.array([[cos, sin], [-sin, cos]])
    turn = np.eye(3)
    turn[:2, :2] = rotation
    turn[:2, 2] = center - rotation @ center
    return turn @ matrix


def affine_to_4x4(affine: np.ndarray) -> np.ndarray:
    """Embed a (3, 3) image affine into BEVFusion's (4, 4) ``img_aug_matrix`` layout."""
    matrix = np.eye(4)
    matrix[:2, :2] = affine[:2, :2]
    matrix[:2, 3] = affine[:2, 2]
    return matrix


@TRANSFORMS.register_module()
class ImageAug3D(BaseTransform):
    """Resize, crop, flip and rotate every view; update ``img_aug_matrix`` exactly.

    Args:
        final_dim (Sequence[int]): Output ``(H, W)``, e.g. (256, 704) for nuScenes at
            1600 x 900 or (128, 352) for the 400 x 225 synthetic images.
        resize_lim (Sequence[float]): ``(min, max)`` resize factor (test: their mean).
        bot_pct_lim (Sequence[float]): ``(min, max)`` fraction of the resized height cut off at
            the bottom (test: their mean). Defaults to (0, 0).
        rot_lim (Sequence[float]): ``(min, max)`` rotation in degrees (training only).
            Defaults to (0, 0).
        rand_flip (bool): Flip each view left-right with probability 0.5 (training only).
            Defaults to False.
        is_train (bool): Random draws (True) or the deterministic centred version.
            Defaults to False.
    """

    def __init__(self, final_dim: Sequence[int], resize_lim: Sequence[float],
                 bot_pct_lim: Sequence[float] = (0.0, 0.0), rot_lim: Sequence[float] = (0.0, 0.0),
                 rand_flip: bool = False, is_train: bool = False) -> None:
        final_dim = tuple(int(v) for v in final_dim)
        if len(final_dim) != 2 or min(final_dim) < 1:
            raise ValueError(f'ImageAug3D: final_dim must be (H, W) > 0, got {final_dim!r}')
        self.final_dim = final_dim
        self.resize_lim = _range(resize_lim, 'resize_lim', 1e-6)
        self.bot_pct_lim = _range(bot_pct_lim, 'bot_pct_lim', 0.0, 1.0)
        self.rot_lim = _range(rot_lim, 'rot_lim', -180.0, 180.0)
        self.rand_flip = bool(rand_flip)
        self.is_train = bool(is_train)

    def sample_augmentation(self, height: int, width: int) -> Dict:
        """Draw ``resize``, ``crop`` ``(crop_w, crop_h)``, ``flip``, ``rotate`` for a view."""
        final_h, final_w = self.final_dim
        if self.is_train:
            resize = float(np.random.uniform(*self.resize_lim))
            bottom = float(np.random.uniform(*self.bot_pct_lim))
        else:
            resize, bottom = float(np.mean(self.resize_lim)), float(np.mean(self.bot_pct_lim))
        new_w, new_h = int(width * resize), int(height * resize)
        crop_h = int((1 - bottom) * new_h) - final_h
        if self.is_train:
            crop_w = int(np.random.uniform(0, max(0, new_w - final_w)))
            flip = self.rand_flip and bool(np.random.choice([0, 1]))
            rotate = float(np.random.uniform(*self.rot_lim))
        else:
            crop_w, flip, rotate = int(max(0, new_w - final_w) / 2), False, 0.0
        return dict(resize=resize, crop=(crop_w, crop_h), flip=flip, rotate=rotate)

    def transform(self, results: Dict) -> Dict:
        """Augment every view.

        Args:
            results (dict): ``img`` (list of N (H, W, 3) arrays) and ``img_aug_matrix``
                (N, 4, 4; identity when absent).

        Returns:
            dict: ``img`` as N (fH, fW, 3) arrays (float32 stays float32), ``img_shape`` =
            ``pad_shape`` = ``final_dim``, ``img_aug_matrix`` (N, 4, 4) float32 and
            ``img_aug_params`` (list of N dicts: ``resize``, ``crop``, ``flip``, ``rotate``).
        """
        images = get_images(results, 'ImageAug3D')
        previous = results.get('img_aug_matrix')
        previous = (np.tile(np.eye(4), (len(images), 1, 1)) if previous is None
                    else np.asarray(previous, dtype=np.float64))
        if previous.shape != (len(images), 4, 4):
            raise ValueError(f"ImageAug3D: results['img_aug_matrix'] has shape {previous.shape}, "
                             f'expected ({len(images)}, 4, 4) for {len(images)} views')
        final_h, final_w = self.final_dim
        outputs, matrices, params = [], [], []
        for image, before in zip(images, previous):
            draw = self.sample_augmentation(*image.shape[:2])
            affine = augmentation_affine(draw['resize'], draw['crop'], draw['flip'],
                                         draw['rotate'], self.final_dim)
            outputs.append(cv2.warpAffine(image, affine[:2], (final_w, final_h),
                                          flags=cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_CONSTANT, borderValue=0))
            matrices.append(affine_to_4x4(affine) @ before)
            params.append(draw)
        results['img'] = outputs
        results['img_shape'] = results['pad_shape'] = self.final_dim
        results['img_aug_matrix'] = np.stack(matrices).astype(np.float32)
        results['img_aug_params'] = params
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(final_dim={self.final_dim}, resize_lim={self.resize_lim}, '
                f'bot_pct_lim={self.bot_pct_lim}, rot_lim={self.rot_lim}, rand_flip='
                f'{self.rand_flip}, is_train={self.is_train})')
