"""Obstacle Occlusion: dirt or mud on the camera lenses, blended into every view.

Two styles:

* ``coverage=None`` (the suite's setting, MetaBEV's toolkit): each view gets one of
  ``num_masks`` lens-dirt masks, drawn per view, blended with ``alpha = (m / 255) ** 3``
  (lens_dirt.py). Binary severity as in the toolkit: with (this transform) or without (clean).
* ``coverage=c`` (a graded extension of ours): the occluder of a view is the union of 2-5
  random rotated elliptical blobs, grown (by thresholding a smooth field at its ``1 - c``
  quantile) until it covers the fraction ``c`` of the image, opaque inside and fading out over
  a soft rim, in ``occluder_color``.
"""
import math
from typing import Dict, Optional, Sequence

import mmcv
import numpy as np

from mmdet3d_plugin.registry import TRANSFORMS
from .base import SeededCorruption, get_images
from .lens_dirt import NUM_MASKS, blend_lens_dirt, lens_dirt_mask

#: The occluder field is computed on a grid with at most this many cells along the long side,
#: then upsampled bilinearly to the image size.
GRID_CELLS = 64


def occluder_alpha(height: int, width: int, coverage: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Draw one lens occluder as an opacity map.

    Args:
        height (int): Image height H.
        width (int): Image width W.
        coverage (float): Fraction of the image with non-zero opacity, in [0, 1).
        rng (np.random.Generator): Source of the blob layout.

    Returns:
        np.ndarray: Opacity of shape (H, W), float32 in [0, 1]; about ``coverage * H * W``
        pixels are non-zero, most of them fully opaque.
    """
    if coverage <= 0:
        return np.zeros((height, width), dtype=np.float32)
    stride = max(1, math.ceil(max(height, width) / GRID_CELLS))
    grid_h, grid_w = max(1, math.ceil(height / stride)), max(1, math.ceil(width / stride))
    rows, cols = np.mgrid[0:grid_h, 0:grid_w].astype(np.float64) + 0.5
    short_side = min(grid_h, grid_w)
    log_field = np.full((grid_h, grid_w), -np.inf)
    for _ in range(int(rng.integers(2, 6))):
        centre_row, centre_col = rng.uniform(0, grid_h), rng.uniform(0, grid_w)
        radius_a, radius_b = rng.uniform(0.15, 0.45, size=2) * short_side + 0.5
        angle = rng.uniform(0, math.pi)
        d_row, d_col = rows - centre_row, cols - centre_col
        u = d_col * math.cos(angle) + d_row * math.sin(angle)
        v = -d_col * math.sin(angle) + d_row * math.cos(angle)
        log_field = np.maximum(log_field, -0.5 * ((u / radius_a) ** 2 + (v / radius_b) ** 2))
    threshold = np.quantile(log_field, 1.0 - coverage)
    softness = max(0.2 * abs(threshold), 1e-3)
    alpha = np.clip((log_field - threshold) / softness, 0.0, 1.0).astype(np.float32)
    if alpha.shape != (height, width):
        alpha = mmcv.imresize(alpha, (width, height), interpolation='bilinear')
    return np.clip(alpha, 0.0, 1.0)


@TRANSFORMS.register_module()
class ObstacleOcclusion(SeededCorruption):
    """Blend lens dirt into every camera view (see the module docstring for the two styles).

    Shapes and dtypes are kept; the input arrays are not written to. Records
    ``occlusion_masks`` (list[int], the mask id of each view) in the toolkit style.

    Args:
        coverage (float, optional): None for the toolkit's lens-dirt masks; else the fraction
            of each view the blob occluder touches, in [0, 1). Defaults to None.
        num_masks (int): Size of the lens-dirt mask set. Defaults to ``NUM_MASKS`` (16).
        mask_seed (int): Which procedural mask set (lens_dirt.py). Defaults to 0.
        occluder_color (Sequence[float]): Blob occluder colour in the images' channel order
            (BGR for mmcv-loaded images), [0, 255]. Defaults to a dark mud brown (40, 50, 60).
        seed (int): Base seed; the masks / occluders are fixed per (seed, sample).
            Defaults to 0.
    """

    def __init__(self, coverage: Optional[float] = None, num_masks: int = NUM_MASKS,
                 mask_seed: int = 0, occluder_color: Sequence[float] = (40, 50, 60),
                 seed: int = 0) -> None:
        super().__init__(seed)
        if coverage is not None and (isinstance(coverage, bool) or not 0.0 <= coverage < 1.0):
            raise ValueError(f'ObstacleOcclusion: coverage must be None (lens-dirt masks) or in '
                             f'[0, 1), got {coverage!r}')
        for name, value, low in (('num_masks', num_masks, 1), ('mask_seed', mask_seed, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f'ObstacleOcclusion: {name} must be an int >= {low}, '
                                 f'got {value!r}')
        self.coverage = None if coverage is None else float(coverage)
        self.num_masks = int(num_masks)
        self.mask_seed = int(mask_seed)
        self.occluder_color = tuple(float(value) for value in occluder_color)

    def apply(self, results: Dict, rng: np.random.Generator) -> Dict:
        """Occlude every view.

        Args:
            results (dict): Needs ``img``, a list of V arrays (H, W, 3) (with ``coverage``: C
                equal to ``len(occluder_color)``).
            rng (np.random.Generator): Source of the mask ids / blob layouts.

        Returns:
            dict: ``results`` with V new occluded images.
        """
        images = get_images(results, 'ObstacleOcclusion')
        if self.coverage is None:
            ids = rng.integers(0, self.num_masks, size=len(images))
            results['img'] = [
                blend_lens_dirt(image, lens_dirt_mask(int(mask_id), self.mask_seed))
                for image, mask_id in zip(images, ids)
            ]
            results['occlusion_masks'] = [int(mask_id) for mask_id in ids]
            return results
        color = np.asarray(self.occluder_color, dtype=np.float32)
        for view, image in enumerate(images):
            if image.shape[2] != color.size:
                raise ValueError(f"ObstacleOcclusion: results['img'][{view}] has "
                                 f'{image.shape[2]} channels, occluder_color has {color.size}')
            alpha = occluder_alpha(image.shape[0], image.shape[1], self.coverage, rng)
            touched = alpha > 0
            opacity = alpha[touched][:, None]
            blended = image[touched].astype(np.float32) * (1.0 - opacity) + color * opacity
            if np.issubdtype(image.dtype, np.integer):
                limits = np.iinfo(image.dtype)
                blended = np.clip(np.rint(blended), limits.min, limits.max)
            occluded = image.copy()
            occluded[touched] = blended.astype(image.dtype)
            images[view] = occluded
        results['img'] = images
        return results
