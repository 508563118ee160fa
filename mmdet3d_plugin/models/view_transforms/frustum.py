"""Camera frustum geometry for LSS view transforms: pixels x depth bins -> LiDAR-frame points.

Conventions (those of the data pipeline, ``mmdet3d_plugin.datasets.transforms``):

* ``cam2img`` (N, 4, 4): intrinsics padded to 4x4, of the *original* image.
* ``lidar2cam`` (N, 4, 4): LiDAR -> camera of the original, un-augmented LiDAR frame.
* ``img_aug_matrix`` (N, 4, 4): image augmentation (resize/crop/flip/rotate) acting on
  ``[u, v, d, 1]`` after perspective division: ``[u', v', d, 1] = A @ [u, v, d, 1]``.
* ``lidar_aug_matrix`` (4, 4): original LiDAR frame -> augmented LiDAR frame.

A frustum point at augmented pixel ``(u', v')`` and depth ``d`` therefore lies at
``lidar_aug @ inv(lidar2cam) @ inv(cam2img) @ [u d, v d, d, 1]`` with
``[u, v, d, 1] = inv(A) @ [u', v', d, 1]``.
"""
from typing import Sequence, Tuple

import torch
from torch import Tensor


def depth_bin_centres(dbound: Sequence[float]) -> Tensor:
    """Return the D depth values ``arange(d_min, d_max, step)`` of ``dbound = (min, max, step)``."""
    d_min, d_max, step = (float(v) for v in dbound)
    if not (0 < d_min < d_max and step > 0):
        raise ValueError(f'dbound must be (min > 0, max > min, step > 0), got {tuple(dbound)}')
    return torch.arange(d_min, d_max, step, dtype=torch.float32)


def make_frustum(image_size: Tuple[int, int], feature_size: Tuple[int, int],
                 dbound: Sequence[float]) -> Tensor:
    """Frustum of one camera in augmented-image pixels.

    Args:
        image_size: ``(H, W)`` of the network's input image (after augmentation).
        feature_size: ``(h, w)`` of the image feature map the depth is predicted on.
        dbound: ``(d_min, d_max, step)`` in metres.

    Returns:
        Tensor: ``(D, h, w, 3)`` float32 ``(u, v, d)``; ``(u, v)`` is the centre of the image
        region each feature pixel covers (pixel-centre convention, ``u = (j + 0.5) W / w - 0.5``).
    """
    height, width = (int(v) for v in image_size)
    feat_h, feat_w = (int(v) for v in feature_size)
    depths = depth_bin_centres(dbound)
    us = (torch.arange(feat_w, dtype=torch.float32) + 0.5) * (width / feat_w) - 0.5
    vs = (torch.arange(feat_h, dtype=torch.float32) + 0.5) * (height / feat_h) - 0.5
    d, v, u = torch.meshgrid(depths, vs, us, indexing='ij')
    return torch.stack([u, v, d], dim=-1)


def frustum_to_lidar(frustum: Tensor, cam2img: Tensor, lidar2cam: Tensor, img_aug_matrix: Tensor,
                     lidar_aug_matrix: Tensor) -> Tensor:
    """Map frustum points of every camera of every sample into the (augmented) LiDAR frame.

    Args:
        frustum: ``(D, h, w, 3)`` from :func:`make_frustum`.
        cam2img: ``(B, N, 4, 4)``.
        lidar2cam: ``(B, N, 4, 4)``.
        img_aug_matrix: ``(B, N, 4, 4)``.
        lidar_aug_matrix: ``(B, 4, 4)``.

    Returns:
        Tensor: ``(B, N, D, h, w, 3)`` x, y, z in the augmented LiDAR frame.
    """
    batch, num_views = cam2img.shape[:2]
    ones = frustum.new_ones(frustum.shape[:-1] + (1, ))
    points = torch.cat([frustum, ones], dim=-1).reshape(-1, 4)  # (D*h*w, 4) [u', v', d, 1]
    undo_aug = torch.linalg.inv(img_aug_matrix.double()).float()  # (B, N, 4, 4)
    points = torch.einsum('bnij,pj->bnpi', undo_aug, points)  # [u, v, d, 1]
    depth = points[..., 2:3]
    points = torch.cat([points[..., :2] * depth, depth, points[..., 3:]], dim=-1)
    img2lidar = lidar_aug_matrix[:, None] @ torch.linalg.inv(
        (cam2img @ lidar2cam).double()).float()  # (B, N, 4, 4)
    points = torch.einsum('bnij,bnpj->bnpi', img2lidar, points)[..., :3]
    return points.reshape((batch, num_views) + frustum.shape[:-1] + (3, ))
