"""Lift-Splat-Shoot camera -> BEV view transform on Drive3D's BEV pooling op."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d_plugin.ops.bev_pool import bev_pool_depth
from mmdet3d_plugin.registry import MODELS
from .bev_grid import MetricGrid
from .depth_loss import depth_bin_targets, depth_bce_loss
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
        depth_net_channels: None: the depth/context net is one 1x1 conv (LSS); an int ``M``:
            two 3x3 conv-BN-ReLU layers of ``M`` channels before it (BEVFusion's
            ``DepthLSSTransform`` depth net), so the depth of a pixel can use its neighbourhood.
        loss_depth_weight: Weight of the LiDAR depth supervision (:meth:`loss_depth`, BEVDepth's
            binary cross-entropy on the depth bins); 0 disables it.
        init_cfg: mmengine init config.

    Shapes:
        forward -> ``(B, C_out * Z, Y, X)`` where ``(Z, Y, X)`` is the grid shape; row ``y``
        and column ``x`` as mmdet3d's BEV feature maps.
    """

    def __init__(self, in_channels: int, out_channels: int, image_size: Tuple[int, int],
                 feature_size: Tuple[int, int], xbound: Sequence[float], ybound: Sequence[float],
                 zbound: Sequence[float], dbound: Sequence[float],
                 depth_net_channels: Optional[int] = None, loss_depth_weight: float = 0.0,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.grid = MetricGrid(xbound, ybound, zbound)
        self.image_size = tuple(int(v) for v in image_size)
        self.feature_size = tuple(int(v) for v in feature_size)
        self.register_buffer('frustum', make_frustum(self.image_size, self.feature_size, dbound),
                             persistent=False)
        self.num_depth = self.frustum.shape[0]
        self.out_channels = int(out_channels)
        self.dbound = tuple(float(v) for v in dbound)
        self.loss_depth_weight = float(loss_depth_weight)
        if self.loss_depth_weight < 0:
            raise ValueError(f'LSSViewTransform: loss_depth_weight must be >= 0, got '
                             f'{loss_depth_weight}')
        outputs = self.num_depth + self.out_channels
        if depth_net_channels is None:
            self.depth_net = nn.Conv2d(in_channels, outputs, 1)
        else:
            mid = int(depth_net_channels)
            self.depth_net = nn.Sequential(
                ConvModule(in_channels, mid, 3, padding=1, norm_cfg=dict(type='BN')),
                ConvModule(mid, mid, 3, padding=1, norm_cfg=dict(type='BN')),
                nn.Conv2d(mid, outputs, 1))

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

    def lift_splat(self, feats: Tensor, cam2img: Tensor, lidar2cam: Tensor,
                   img_aug_matrix: Tensor, lidar_aug_matrix: Tensor,
                   append_mass: bool = False) -> Tuple[Tensor, Tensor]:
        """Lift image features with their depth distribution and pool them into the 3D grid.

        Args:
            feats: ``(B, N, C_in, h, w)`` image features of the N cameras.
            cam2img, lidar2cam, img_aug_matrix: ``(B, N, 4, 4)`` (see :mod:`.frustum`).
            lidar_aug_matrix: ``(B, 4, 4)``: the original LiDAR frame -> the grid's frame.
            append_mass: Also pool the depth probabilities alone (a one-channel context of
                ones) and append that lifted mass as the last channel.

        Returns:
            tuple: ``(B, C_out, Z, Y, X)`` pooled volume (``(B, C_out + 1, Z, Y, X)`` with
            ``append_mass``, channel ``C_out`` the summed depth probabilities of the frustum
            points in each voxel) and the ``(B, N, D, h, w)`` depth probabilities.
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
        weights = depth.reshape(-1)[flat_inside].to(context.dtype)
        pooled = bev_pool_depth(weights, context.reshape(-1, self.out_channels).contiguous(),
                                pixel_index, coords, batch, self.grid.shape)  # (B, C_out, Z, Y, X)
        if append_mass:
            ones = context.new_ones((batch * views * pixels_per_view, 1))
            mass = bev_pool_depth(weights, ones, pixel_index, coords, batch, self.grid.shape)
            pooled = torch.cat([pooled, mass], dim=1)  # (B, C_out + 1, Z, Y, X)
        return pooled, depth.reshape(batch, views, self.num_depth, feat_h, feat_w)

    def forward(self, feats: Tensor, cam2img: Tensor, lidar2cam: Tensor, img_aug_matrix: Tensor,
                lidar_aug_matrix: Tensor,
                return_depth: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Splat image features onto the BEV grid (:meth:`lift_splat`, height folded into
        channels).

        Args:
            feats: ``(B, N, C_in, h, w)`` image features of the N cameras.
            cam2img, lidar2cam, img_aug_matrix: ``(B, N, 4, 4)`` (see :mod:`.frustum`).
            lidar_aug_matrix: ``(B, 4, 4)``.
            return_depth: Also return the depth distribution (for :meth:`loss_depth`).

        Returns:
            Tensor: ``(B, C_out * Z, Y, X)``; with ``return_depth`` a tuple of it and the
            ``(B, N, D, h, w)`` depth probabilities.
        """
        pooled, depth = self.lift_splat(feats, cam2img, lidar2cam, img_aug_matrix,
                                        lidar_aug_matrix)
        if return_depth:
            return pooled.flatten(1, 2), depth
        return pooled.flatten(1, 2)

    def loss_depth(self, depth: Tensor, gt_depth: Tensor,
                   valid_views: Optional[Tensor] = None) -> Tensor:
        """Weighted LiDAR depth loss of the predicted depth distribution.

        Args:
            depth: ``(B, N, D, h, w)`` depth probabilities (:meth:`forward` with
                ``return_depth``).
            gt_depth: ``(B, N, h, w)`` LiDAR depth in metres, 0 where no point fell
                (``MultiViewDepthGT``).
            valid_views: ``(B, N)`` bool, views whose image is real (not dropped or blanked);
                all when None.

        Returns:
            Tensor: scalar ``loss_depth_weight`` x mean over supervised cells of the bins' summed
            binary cross-entropy; 0 (still in the graph) when no cell has a LiDAR return.
        """
        if tuple(gt_depth.shape) != tuple(depth.shape[:2]) + tuple(depth.shape[3:]):
            raise ValueError(f'LSSViewTransform.loss_depth: gt_depth must be '
                             f'{tuple(depth.shape[:2]) + tuple(depth.shape[3:])} (B, N, h, w) '
                             f'to match the depth {tuple(depth.shape)}, got '
                             f'{tuple(gt_depth.shape)}; set MultiViewDepthGT downsample to the '
                             'feature stride')
        target, mask = depth_bin_targets(gt_depth, self.dbound, self.num_depth)
        if valid_views is not None:
            mask = mask & valid_views[:, :, None, None].to(mask.device)
        return self.loss_depth_weight * depth_bce_loss(depth, target, mask)
