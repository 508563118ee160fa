"""Random camera-occupancy batches with the real nuScenes rig, for occupancy model tests,
benchmarks and FLOPs counting."""
from typing import Optional, Sequence

import numpy as np
import torch
from mmdet3d.structures import Det3DDataSample

from mmdet3d_plugin.synthetic.rig import build_rig
from .bev_inputs import _pose, resize_matrix, rig_matrices


def lidar2ego_matrix() -> np.ndarray:
    """``(4, 4)`` float32 LIDAR_TOP -> ego of the nuScenes rig (Occ3D's ``lidar2occ``)."""
    rig = build_rig((400, 225))
    return _pose(rig['LIDAR_TOP'].rotation, rig['LIDAR_TOP'].translation).astype(np.float32)


def make_occupancy_batch(batch_size: int = 2, image_size: Sequence[int] = (128, 352),
                         grid_shape: Sequence[int] = (200, 200, 16), num_classes: int = 18,
                         free_label: int = 17, mask_key: Optional[str] = 'mask_camera',
                         depth_shape: Optional[Sequence[int]] = (16, 44),
                         lidar2occ: Optional[np.ndarray] = None, seed: int = 0) -> dict:
    """A batch for ``model.data_preprocessor`` of a camera occupancy model.

    Args:
        batch_size: ``B``.
        image_size: ``(H, W)`` network input of the six views.
        grid_shape: ``(X, Y, Z)`` of ``gt_occ``.
        num_classes: Labels, free included; about 70 % of the voxels are ``free_label``.
        free_label: The free label.
        mask_key: Name of the random visibility mask packed beside ``gt_occ``, or None.
        depth_shape: ``(h, w)`` of a random ``gt_depth`` per view, or None for none.
        lidar2occ: ``(4, 4)``; defaults to the rig's LIDAR_TOP -> ego (the Occ3D frame).
        seed: numpy seed.

    Returns:
        dict: ``inputs`` (``img``: B tensors ``(6, 3, H, W)``) and ``data_samples``.
    """
    rng = np.random.default_rng(seed)
    cam2img, lidar2cam = rig_matrices()
    aug = resize_matrix(image_size[1] / 400, image_size[0] / 225)
    lidar2occ = lidar2ego_matrix() if lidar2occ is None else np.asarray(lidar2occ, np.float32)
    inputs = dict(img=[torch.rand(6, 3, *image_size) * 255 for _ in range(batch_size)])
    samples = []
    for _ in range(batch_size):
        sample = Det3DDataSample(metainfo=dict(cam2img=cam2img, lidar2cam=lidar2cam,
                                               img_aug_matrix=aug, lidar2occ=lidar2occ,
                                               num_views=6))
        labels = rng.integers(0, num_classes, size=tuple(grid_shape))
        labels[rng.random(tuple(grid_shape)) < 0.7] = free_label
        sample.gt_occ = torch.from_numpy(labels.astype(np.uint8))
        if mask_key:
            sample.set_field(torch.from_numpy(rng.random(tuple(grid_shape)) < 0.6), mask_key)
        if depth_shape:
            depth = rng.uniform(1, 60, size=(6, ) + tuple(depth_shape))
            depth[rng.random(depth.shape) < 0.8] = 0
            sample.gt_depth = torch.from_numpy(depth.astype(np.float32))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)
