"""Lift-Splat-Shoot camera -> BEV view transform on Drive3D's BEV pooling op."""
from typing import Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d_plugin.ops.bev_pool import bev_pool_depth
from mmdet3d_plugin.registry import MODELS
from .bev_grid import MetricGrid
from .frustum import frustum_to_lidar, make_frustum


@MODELS.register_module()
class LSSViewTransform(BaseModule):
    """Lift image features to a categorical depth distribution and splat them onto the BEV grid.

    A 1x1 conv predicts, for every feature pixel, ``D`` depth logits and ``C_out`` context
    channels. Each (pixel, depth bin) is a frustum point weighted by its depth probability; the
    points are mapped into the LiDAR frame (:mod:`.frustum`) and pooled per BEV cell by
    :func:`~mmdet3d_plugin.ops.bev_pool.bev_pool_depth`, which never builds the
    ``(points, C_out)`` frustum tensor.

    Args:
        in_channels: ``C_in`` of the image features.
        out_channels: ``C_out`` context channels per height cell.
        image_size: ``(H, W)`` of the network input images.
        feature_size: ``(h, w)`` of the image features.
        xbound, ybound, zbound: BEV grid ``(min, max, step)`` in the LiDAR frame, metres.
        dbound: Depth bins ``(min, max, step)`` in metres.
        init_cfg: mmengine init config.

    Shapes:
        forward -> ``(B, C_out * Z, Y, X)`` where ``(Z, Y, X)`` is the grid shape; row ``y``
        and column ``x`` as mmdet3d's BEV feature maps.
    """

    def __init__(self, in_channels: int, out_channels: int, image_size: Tuple[int, int],
                 feature_size: Tuple[int, int], xbound: Sequence[float], ybound: Sequence[float],
                 zbound: Sequence[float], dbound: Sequence[float], init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.grid = MetricGrid(xbound, ybound, zbound)
        self.image_size = tuple(int(v) for v in image_size)
        self.feature_size = tuple(int(v) for v in feature_size)
        self.register_buffer('frustum', make_frustum(self.image_size, self.feature_size, dbound),
                             persistent=False)
        self.num_depth = self.frustum.shape[0]
        self.out_channels = int(out_channels)
        self.depth_net = nn.Conv2d(in_channels, self.num_depth + self.out_channels, 1)

    @property
    def bev_channels(self) -> int:
        """Channels of the output BEV map, ``C_out * Z``."""
        return self.out_channels * self.grid.shape[0]

    @property
    def bev_shape(self) -> Tuple[int, int]:
        """``(Y, X)`` of the output BEV map."""
        return self.grid.shape[1:]

    def _check_inputs(self, feats: Tensor, cam2img: Tensor, lidar2cam: Tensor,
                      img_aug_matrix: Tensor, lidar_aug_matrix: Tensor) -> None:
        if feats.dim() != 5 or tuple(feats.shape[-2:]) != self.feature_size:
            raise ValueError(f'LSSViewTransform: image features must be (B, N, C, '
                             f'{self.feature_size[0]}, {self.feature_size[1]}), got '
                             f'{tuple(feats.shape)}; check feature_size against the image size '
                             'and the neck stride')
        batch, views = feats.shape[:2]
        for name, matrix in (('cam2img', cam2img), ('lidar2cam', lidar2cam),
                             ('img_aug_matrix', img_aug_matrix)):
            if tuple(matrix.shape) != (batch, views, 4, 4):
                raise ValueError(f'LSSViewTransform: {name} must be ({batch}, {views}, 4, 4), '
                                 f'got {tuple(matrix.shape)}')
        if tuple(lidar_aug_matrix.shape) != (batch, 4, 4):
            raise ValueError(f'LSSViewTransform: lidar_aug_matrix must be ({batch}, 4, 4), '
                             f'got {tuple(lidar_aug_matrix.shape)}')

    def forward(self, feats: Tensor, cam2img: Tensor, lidar2cam: Tensor, img_aug_matrix: Tensor,
                lidar_aug_matrix: Tensor) -> Tensor:
        """Splat image features onto the BEV grid.

        Args:
            feats: ``(B, N, C_in, h, w)`` image features of the N cameras.
            cam2img, lidar2cam, img_aug_matrix: ``(B, N, 4, 4)`` (see :mod:`.frustum`).
            lidar_aug_matrix: ``(B, 4, 4)``.

        Returns:
            Tensor: ``(B, C_out * Z, Y, X)``.
        """
        self._check_inputs(feats, cam2img, lidar2cam, img_aug_matrix, lidar_aug_matrix)
        batch, views, channels, feat_h, feat_w = feats.shape
        out = self.depth_net(feats.reshape(batch * views, channels, feat_h, feat_w))
        depth = out[:, :self.num_depth].softmax(dim=1)  # (B*N, D, h, w)
        context = out[:, self.num_depth:].permute(0, 2, 3, 1)  # (B*N, h, w, C_out)
        geometry = frustum_to_lidar(self.frustum, cam2img.float(), lidar2cam.float(),
                                    img_aug_matrix.float(), lidar_aug_matrix.float())
        cells, inside = self.grid.cell_index(geometry)  # (B, N, D, h, w, 3), (B, N, D, h, w)
        flat_inside = inside.reshape(-1).nonzero(as_tuple=True)[0]
        pixels_per_view = feat_h * feat_w
        per_depth = self.num_depth * pixels_per_view
        view_index = flat_inside // per_depth  # b * N + n
        pixel_index = view_index * pixels_per_view + flat_inside % pixels_per_view
        batch_index = view_index // views
        coords = torch.cat([batch_index[:, None], cells.reshape(-1, 3)[flat_inside]], dim=1)
        # depth (B*N, D, h, w) flattens in the same (b, n, d, row, col) order as the geometry
        pooled = bev_pool_depth(
            depth.reshape(-1)[flat_inside].to(context.dtype),
            context.reshape(-1, self.out_channels).contiguous(), pixel_index, coords, batch,
            self.grid.shape)  # (B, C_out, Z, Y, X)
        return pooled.flatten(1, 2)
