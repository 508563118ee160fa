"""Camera-failure corruptions of MetaBEV's suite: View Drop, View Noise and Missing Camera.

They act on ``results['img']``, a list of per-camera numpy images (H, W, 3), uint8 or float32 in
[0, 255] (before the data preprocessor normalises them), six nuScenes cameras in order. Corrupted
views are replaced by new arrays of the same shape and dtype (shapes and the intrinsics/extrinsics
stay valid, batches still collate); the input arrays are never written to.

State recorded for models (add the keys to ``Pack3DDetInputs.meta_keys``; absent means clean):
    * ``dropped_views`` (list[int]): sorted indices of views blanked to zeros (ViewDrop,
      MissingCamera); accumulates over several transforms.
    * ``camera_missing`` (bool): True once every view is dropped (MissingCamera, ViewDrop of
      all views).
    * ``noised_views`` (list[int]): views replaced by noise, for analysis only; a real sensor
      does not announce noise, so a fair evaluation does not feed it to the model.
"""
from typing import Dict

import numpy as np

from mmdet3d_plugin.registry import TRANSFORMS
from .base import SeededCorruption, get_images, mark_dropped_views


def _check_num_views(transform_name: str, num_views: int) -> int:
    if isinstance(num_views, bool) or not isinstance(num_views, (int, np.integer)) or num_views < 1:
        raise ValueError(f'{transform_name}: num_views must be a positive int, got {num_views!r}')
    return int(num_views)


def _choose_views(transform_name: str, rng: np.random.Generator, num_views: int,
                  total_views: int) -> np.ndarray:
    """Return ``num_views`` distinct sorted view indices in [0, total_views) drawn from ``rng``."""
    if num_views > total_views:
        raise ValueError(f"{transform_name}: num_views={num_views} but results['img'] "
                         f'holds {total_views} views')
    return np.sort(rng.choice(total_views, size=num_views, replace=False))


@TRANSFORMS.register_module()
class ViewDrop(SeededCorruption):
    """Blank ``num_views`` randomly chosen cameras to all-zero images.

    Records ``dropped_views`` and ``camera_missing`` (see the module docstring).

    Args:
        num_views (int): Cameras to blank, 1 to the number of views (MetaBEV: 1-6).
        seed (int): Base seed; the chosen views are fixed per (seed, sample). Defaults to 0.
    """

    def __init__(self, num_views: int, seed: int = 0) -> None:
        super().__init__(seed)
        self.num_views = _check_num_views('ViewDrop', num_views)

    def apply(self, results: Dict, rng: np.random.Generator) -> Dict:
        """Blank the chosen views.

        Args:
            results (dict): Needs ``img``, a list of V arrays (H, W, 3).

        Returns:
            dict: ``results`` with ``num_views`` of the V images zeroed.
        """
        images = get_images(results, 'ViewDrop')
        views = _choose_views('ViewDrop', rng, self.num_views, len(images))
        for view in views:
            images[view] = np.zeros_like(images[view])
        results['img'] = images
        mark_dropped_views(results, views, len(images))
        return results


@TRANSFORMS.register_module()
class ViewNoise(SeededCorruption):
    """Replace ``num_views`` randomly chosen cameras by uniform random noise images.

    Noise is drawn uniformly over [0, 255] (integers for integer images, floats otherwise) in the
    view's shape and dtype. Records ``noised_views`` (analysis only, see the module docstring).

    Args:
        num_views (int): Cameras to replace, 1 to the number of views (MetaBEV: 1-6).
        seed (int): Base seed; the views and the noise are fixed per (seed, sample).
            Defaults to 0.
    """

    def __init__(self, num_views: int, seed: int = 0) -> None:
        super().__init__(seed)
        self.num_views = _check_num_views('ViewNoise', num_views)

    def apply(self, results: Dict, rng: np.random.Generator) -> Dict:
        """Replace the chosen views by noise.

        Args:
            results (dict): Needs ``img``, a list of V arrays (H, W, 3).

        Returns:
            dict: ``results`` with ``num_views`` of the V images replaced.
        """
        images = get_images(results, 'ViewNoise')
        views = _choose_views('ViewNoise', rng, self.num_views, len(images))
        for view in views:
            image = images[view]
            if np.issubdtype(image.dtype, np.integer):
                noise = rng.integers(0, 256, size=image.shape, dtype=np.int64)
            else:
                noise = rng.uniform(0.0, 255.0, size=image.shape)
            images[view] = noise.astype(image.dtype)
        results['img'] = images
        results['noised_views'] = sorted(
            set(results.get('noised_views') or ()) | {int(view) for view in views})
        return results


@TRANSFORMS.register_module()
class MissingCamera(SeededCorruption):
    """Simulate failed cameras: every view becomes an all-zero image.

    Behaviour (an input state, not an error): each image keeps its shape and dtype but is zero,
    ``results['camera_missing'] = True`` and ``results['dropped_views']`` lists every view.
    Models read the flag and skip the camera branch.

    Args:
        seed (int): Unused (no randomness). Defaults to 0.
    """

    uses_rng = False

    def apply(self, results: Dict, rng=None) -> Dict:
        """Zero every view and set ``camera_missing`` / ``dropped_views``."""
        images = get_images(results, 'MissingCamera')
        results['img'] = [np.zeros_like(image) for image in images]
        mark_dropped_views(results, range(len(images)), len(images))
        return results
