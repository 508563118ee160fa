"""Lift-Splat-Shoot camera -> 3D voxel volume, the camera lift of the occupancy models."""
from typing import Tuple, Union

from torch import Tensor

from mmdet3d_plugin.registry import MODELS
from .lss_view_transform import LSSViewTransform


@MODELS.register_module()
class LSSVoxelTransform(LSSViewTransform):
    """LSS into a voxel volume with ``Z > 1`` height cells, kept as a 3D volume.

    The same lift as :class:`LSSViewTransform` (categorical depth, frustum points pooled by
    :func:`~mmdet3d_plugin.ops.bev_pool.bev_pool_depth`), but the output keeps its height axis
    instead of folding it into channels, for 3D encoders and occupancy heads. The occupancy
    detectors pass their ``lidar2occ`` (original LiDAR frame -> occupancy-grid frame, with the
    grid-frame flips) as the final transform, so ``xbound`` / ``ybound`` / ``zbound`` are in the
    occupancy grid's frame (ego for Occ3D, LiDAR for nuScenes-Occupancy).

    Takes :class:`LSSViewTransform`'s arguments and:

    Args:
        append_mass: Also pool the depth probabilities alone (``bev_pool_depth`` with a
            one-channel context of ones) and append that lifted mass -- the summed depth
            probability of the frustum points that fell in each voxel, differentiable w.r.t.
            the depth net -- as the **last** channel of the volume. ``out_channels`` stays the
            number of context channels; the volume then has ``out_channels + 1`` channels
            (:attr:`volume_channels`). For SparseOcc's mass-based sparsification
            (``SparseLatentDiffuser(mass_channel=True)``). Default False: the volume is the
            context only, as before.

    Shapes:
        forward -> ``(B, volume_channels, Z, Y, X)`` where ``(Z, Y, X)`` is the grid shape.
    """

    def __init__(self, *args, append_mass: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.append_mass = bool(append_mass)

    @property
    def volume_shape(self) -> Tuple[int, int, int]:
        """``(Z, Y, X)`` of the output volume."""
        return self.grid.shape

    @property
    def volume_channels(self) -> int:
        """Channels of the output volume: ``out_channels`` (+ 1 with ``append_mass``)."""
        return self.out_channels + int(self.append_mass)

    @property
    def bev_channels(self) -> int:
        """Channels of the volume with its height folded in, ``volume_channels * Z``."""
        return self.volume_channels * self.grid.shape[0]

    def forward(self, feats: Tensor, cam2img: Tensor, lidar2cam: Tensor, img_aug_matrix: Tensor,
                lidar2grid: Tensor,
                return_depth: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Lift image features into the voxel volume.

        Args:
            feats: ``(B, N, C_in, h, w)`` image features of the N cameras.
            cam2img, lidar2cam, img_aug_matrix: ``(B, N, 4, 4)`` (see :mod:`.frustum`).
            lidar2grid: ``(B, 4, 4)`` original LiDAR frame -> the volume's frame.
            return_depth: Also return the depth distribution (for :meth:`loss_depth`).

        Returns:
            Tensor: ``(B, volume_channels, Z, Y, X)`` (with ``append_mass`` the last channel is
            the lifted mass); with ``return_depth`` a tuple of it and the ``(B, N, D, h, w)``
            depth probabilities.
        """
        volume, depth = self.lift_splat(feats, cam2img, lidar2cam, img_aug_matrix, lidar2grid,
                                        append_mass=self.append_mass)
        return (volume, depth) if return_depth else volume
