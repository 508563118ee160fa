"""Lens-dirt masks of the Obstacle Occlusion corruption, made procedurally, and their blending.

MetaBEV evaluates Obstacle Occlusion with the toolkit of Yu et al., "Benchmarking the
Robustness of LiDAR-Camera Fusion for 3D Object Detection" (kcyu2014/lidar-camera-robust-
benchmark): every camera image gets one of a fixed set of lens-dirt photographs (``mask_<id>``,
the id drawn per image), resized to the image and blended per pixel and channel with

    alpha = (m / 255) ** 3,    out = alpha * image + (1 - alpha) * m,

so where the mask is white (m = 255) the image is untouched and where it is dark the dirt's
own colour shows. The setting is binary: with (every view masked) or without (clean).

The toolkit's mask photographs are not distributed with it, so :func:`lens_dirt_mask` draws a
comparable set: white images with a few large soft smudges and many small droplets of brownish
dirt, textured by smooth noise, each fully determined by ``(mask_seed, mask_id)`` and cached.
They are drawn at ``MASK_SHAPE`` (landscape, nuScenes' 9:16; the toolkit rotates its portrait
photos by 90 degrees) and resized to each image.
"""
import functools
import math
from typing import Tuple

import mmcv
import numpy as np

#: (H, W) at which the masks are drawn before being resized to an image.
MASK_SHAPE = (180, 320)
#: Masks in the default set (the toolkit draws one id per image from its set).
NUM_MASKS = 16


def _add_soft_blob(clear: np.ndarray, rng: np.random.Generator,
                   radius_range: Tuple[float, float], opacity_range: Tuple[float, float]) -> None:
    """Darken ``clear`` (H, W), the transmitted fraction, in place by one rotated elliptical
    blob with an opaque core and a Gaussian rim (computed in the blob's window only)."""
    height, width = clear.shape
    centre_row, centre_col = rng.uniform(0, height), rng.uniform(0, width)
    radius_a, radius_b = rng.uniform(*radius_range, size=2) * min(height, width) + 0.5
    angle = rng.uniform(0, math.pi)
    sharpness = rng.uniform(1.5, 4.0)
    opacity = rng.uniform(*opacity_range)
    reach = 2.5 * max(radius_a, radius_b)  # the rim is below 1e-3 beyond it
    top, bottom = max(0, int(centre_row - reach)), min(height, int(centre_row + reach) + 1)
    left, right = max(0, int(centre_col - reach)), min(width, int(centre_col + reach) + 1)
    if top >= bottom or left >= right:
        return
    rows, cols = np.mgrid[top:bottom, left:right].astype(np.float64) + 0.5
    d_row, d_col = rows - centre_row, cols - centre_col
    u = d_col * math.cos(angle) + d_row * math.sin(angle)
    v = -d_col * math.sin(angle) + d_row * math.cos(angle)
    radius2 = (u / radius_a) ** 2 + (v / radius_b) ** 2
    blob = np.exp(-np.maximum(radius2 - 0.5, 0.0) * sharpness)
    clear[top:bottom, left:right] *= 1.0 - opacity * blob


@functools.lru_cache(maxsize=128)
def lens_dirt_mask(mask_id: int, mask_seed: int = 0,
                   shape: Tuple[int, int] = MASK_SHAPE) -> np.ndarray:
    """Draw lens-dirt mask ``mask_id`` of the set ``mask_seed``.

    Args:
        mask_id (int): Index of the mask in its set, >= 0.
        mask_seed (int): Which set. Defaults to 0.
        shape (tuple[int, int]): (H, W) of the mask. Defaults to ``MASK_SHAPE``.

    Returns:
        np.ndarray: uint8 (H, W, 3), read-only (cached): 255 where the lens is clean, the
        dirt's colour (BGR, dark brown-grey) under the smudges, soft transitions between.
    """
    rng = np.random.default_rng([int(mask_seed), 0x1E5D, int(mask_id)])
    height, width = shape
    clear = np.ones(shape)  # transmitted fraction: product of (1 - opacity) of every blob
    for _ in range(int(rng.integers(2, 6))):  # large smudges
        _add_soft_blob(clear, rng, (0.08, 0.3), (0.6, 1.0))
    for _ in range(int(rng.integers(10, 40))):  # droplets and specks
        _add_soft_blob(clear, rng, (0.01, 0.04), (0.3, 0.9))
    coarse = rng.uniform(0.0, 1.0, (max(2, height // 12), max(2, width // 12)))
    texture = mmcv.imresize(coarse.astype(np.float32), (width, height), interpolation='bicubic')
    dirt = (1.0 - clear) * np.clip(0.75 + 0.35 * texture, 0.0, 1.0)
    colour = rng.uniform(30, 70) * np.array([1.0, 1.15, 1.35])  # BGR brown-grey mud
    mask = 255.0 * (1.0 - dirt[..., None]) + colour * dirt[..., None]
    mask = np.clip(np.rint(mask), 0, 255).astype(np.uint8)
    mask.setflags(write=False)
    return mask


def blend_lens_dirt(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend ``mask`` into ``image`` as the toolkit does (see the module docstring).

    Args:
        image (np.ndarray): (H, W, C) image, uint8 or float in [0, 255].
        mask (np.ndarray): (h, w, C) uint8 mask; resized bilinearly to (H, W) when needed.

    Returns:
        np.ndarray: A new (H, W, C) array of ``image``'s dtype (integers rounded and clipped):
        ``alpha * image + (1 - alpha) * m`` with ``alpha = (m / 255) ** 3`` per pixel and
        channel; pixels under a white (255) mask are left exactly as they were.

    Raises:
        ValueError: if the channel counts differ.
    """
    if mask.shape[2] != image.shape[2]:
        raise ValueError(f'lens-dirt blending: the image has {image.shape[2]} channels, the '
                         f'mask {mask.shape[2]}')
    if mask.shape[:2] != image.shape[:2]:
        mask = mmcv.imresize(mask, (image.shape[1], image.shape[0]), interpolation='bilinear')
    m = mask.astype(np.float32)
    alpha = (m / 255.0) ** 3
    out = alpha * image.astype(np.float32) + (1.0 - alpha) * m
    if np.issubdtype(image.dtype, np.integer):
        limits = np.iinfo(image.dtype)
        out = np.clip(np.rint(out), limits.min, limits.max)
    return out.astype(image.dtype)
