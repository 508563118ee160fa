"""Obstacle Occlusion: dirt or mud on the camera lenses, blended into every view.

Severity scale (ours; MetaBEV reports one unspecified setting): ``coverage`` is the fraction of
each image's area that the occluder touches, 0.1 / 0.2 / 0.3 / 0.4 / 0.5 for severities 1-5 of
the suite. The occluder of a view is the union of 2-5 random rotated elliptical blobs, grown
(by thresholding a smooth field at its ``1 - coverage`` quantile) until it covers that fraction,
opaque inside and fading out over a soft rim.
"""
import math
from typing import Dict, Sequence

import mmcv
import numpy as np

from mmdet3d_plugin.registry import TRANSFORMS
from .base import SeededCorruption, get_images

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
    """Blend a random lens occluder (see ``occluder_alpha``) into every camera view.

    ``out = (1 - alpha) * image + alpha * occluder_color`` per pixel; pixels with zero opacity
    are left bit-identical. Shapes and dtypes are kept; the input arrays are not written to.

    Args:
        coverage (float): Fraction of each view the occluder touches, in [0, 1) (suite
            severities 1-5: 0.1, 0.2, 0.3, 0.4, 0.5).
        occluder_color (Sequence[float]): Occluder colour in the images' channel order (BGR for
            mmcv-loaded images), [0, 255]. Defaults to a dark mud brown (40, 50, 60).
        seed (int): Base seed; the occluders are fixed per (seed, sample). Defaults to 0.
    """

    def __init__(self, coverage: float, occluder_color: Sequence[float] = (40, 50, 60),
                 seed: int = 0) -> None:
        super().__init__(seed)
        if isinstance(coverage, bool) or not 0.0 <= coverage < 1.0:
            raise ValueError(f'ObstacleOcclusion: coverage must be in [0, 1), got {coverage!r}')
        self.coverage = float(coverage)
        self.occluder_color = tuple(float(value) for value in occluder_color)

    def transform(self, results: Dict) -> Dict:
        """Occlude every view.

        Args:
            results (dict): Needs ``img``, a list of V arrays (H, W, C) with C equal to
                ``len(occluder_color)``.

        Returns:
            dict: ``results`` with V new occluded images.
        """
        images = get_images(results, 'ObstacleOcclusion')
        color = np.asarray(self.occluder_color, dtype=np.float32)
        rng = self.sample_rng(results)
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
