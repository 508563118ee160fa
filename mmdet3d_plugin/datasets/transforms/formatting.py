"""Packing for BEV models: ``Pack3DDetBEVInputs`` (mmdet3d's ``Pack3DDetInputs`` + BEV maps).

Adds to mmdet3d's packing:

* key ``'gt_masks_bev'`` (C, X, Y) uint8 (``LoadBEVMapGT``) -> ``data_sample.gt_masks_bev``, a
  torch.uint8 tensor data field (train and test), where ``BEVMapSegMetric`` (``gt_key=
  'gt_masks_bev'``) finds it in the model's output data samples;
* key ``'gt_depth'`` (N, h, w) float32 (``MultiViewDepthGT``, LiDAR depth per image feature
  cell, 0 = no return) -> ``data_sample.gt_depth``, a float32 tensor data field (training only:
  the depth supervision of the LSS view transform);
* keys ``'gt_occ'`` (X, Y, Z) uint8 semantic occupancy and ``'mask_camera'`` / ``'mask_lidar'``
  (X, Y, Z) bool visibility masks (``LoadOcc3DGT`` / ``LoadNuScenesOccupancyGT``, then
  ``OccupancyFrame``) -> data fields of the same names with their dtypes kept (torch.uint8 /
  torch.bool), train and test: ``Occ3DMetric`` / ``SSCMetric`` read them from the model's
  output data samples (the input samples with the predictions set);
* multi-view images stay one (N, 3, H, W) tensor per sample (mmdet3d's behaviour for a list
  ``img``), so ``Det3DDataPreprocessor`` gives ``inputs['imgs']`` (B, N, 3, H, W);
* default meta keys ``BEV_META_KEYS`` on top of mmdet3d's: ``img_aug_matrix`` (N, 4, 4),
  ``lidar_aug_matrix`` (4, 4), ``cam2lidar`` / ``lidar2cam`` (N, 4, 4), ``camera_missing``,
  ``lidar_missing`` (bool), ``dropped_views`` (list[int]), ``num_views``, ``cam_names``,
  ``token``, and for occupancy ``lidar2occ`` (4, 4) (original LiDAR frame -> occupancy-grid
  frame, flips included) and ``occ_flip`` (bool x, bool y) (``OccupancyFrame``).

A meta key only appears when a transform set it. **Absent means clean / identity**:
no ``img_aug_matrix`` = identity per view, no ``lidar_aug_matrix`` = identity, no
``camera_missing`` / ``lidar_missing`` = False, no ``dropped_views`` = []. Models read metas
through :func:`bev_meta` which applies exactly these defaults. ``lidar2occ`` has no default: an
occupancy model needs it (``OccupancyFrame`` in its pipelines).
"""
from typing import Dict, Sequence

import numpy as np
import torch
from mmdet3d.datasets.transforms.formating import Pack3DDetInputs

from mmdet3d_plugin.registry import TRANSFORMS

#: Meta keys added to mmdet3d's defaults.
BEV_META_KEYS = ('img_aug_matrix', 'lidar_aug_matrix', 'cam2lidar', 'lidar2cam',
                 'camera_missing', 'lidar_missing', 'dropped_views', 'num_views', 'cam_names',
                 'token', 'lidar2occ', 'occ_flip')
#: Data-sample fields packed by this class beyond mmdet3d's.
BEV_GT_KEYS = ('gt_masks_bev', 'gt_depth', 'gt_occ', 'mask_camera', 'mask_lidar')
#: Layout of each packed field, for error messages.
_GT_LAYOUT = {'gt_masks_bev': '(C, X, Y)', 'gt_depth': '(N, h, w)', 'gt_occ': '(X, Y, Z)',
              'mask_camera': '(X, Y, Z)', 'mask_lidar': '(X, Y, Z)'}
_MMDET3D_META_KEYS = Pack3DDetInputs.__init__.__defaults__[0]


def bev_meta(metainfo: Dict, num_views: int = None) -> Dict:
    """Return the BEV meta keys of a data sample with the documented defaults filled in.

    Args:
        metainfo (dict): ``data_sample.metainfo``.
        num_views (int, optional): Views of the sample, for the identity ``img_aug_matrix``;
            defaults to ``metainfo['num_views']`` (0 when absent too).

    Returns:
        dict: ``img_aug_matrix`` (N, 4, 4) and ``lidar_aug_matrix`` (4, 4) float32 numpy,
        ``camera_missing`` / ``lidar_missing`` bool, ``dropped_views`` list[int].
    """
    views = int(metainfo.get('num_views', 0) if num_views is None else num_views)
    img_aug = metainfo.get('img_aug_matrix')
    lidar_aug = metainfo.get('lidar_aug_matrix')
    return dict(
        img_aug_matrix=(np.tile(np.eye(4, dtype=np.float32), (views, 1, 1)) if img_aug is None
                        else np.asarray(img_aug, dtype=np.float32)),
        lidar_aug_matrix=(np.eye(4, dtype=np.float32) if lidar_aug is None
                          else np.asarray(lidar_aug, dtype=np.float32)),
        camera_missing=bool(metainfo.get('camera_missing', False)),
        lidar_missing=bool(metainfo.get('lidar_missing', False)),
        dropped_views=[int(v) for v in metainfo.get('dropped_views') or ()])


@TRANSFORMS.register_module()
class Pack3DDetBEVInputs(Pack3DDetInputs):
    """``Pack3DDetInputs`` that also packs ``BEV_GT_KEYS`` and the BEV meta keys.

    Args:
        keys (Sequence[str]): As mmdet3d's (``'points'``, ``'img'``, ``'gt_bboxes_3d'``,
            ``'gt_labels_3d'``, ...) plus any of ``BEV_GT_KEYS`` (``'gt_masks_bev'``,
            ``'gt_depth'``, ``'gt_occ'``, ``'mask_camera'``, ``'mask_lidar'``).
        meta_keys (Sequence[str]): Defaults to mmdet3d's meta keys + ``BEV_META_KEYS``.
    """

    def __init__(self, keys: Sequence[str],
                 meta_keys: Sequence[str] = tuple(_MMDET3D_META_KEYS) + BEV_META_KEYS) -> None:
        keys = tuple(keys)
        self.bev_keys = tuple(key for key in keys if key in BEV_GT_KEYS)
        super().__init__(keys=tuple(key for key in keys if key not in BEV_GT_KEYS),
                         meta_keys=tuple(meta_keys))

    def pack_single_results(self, results: Dict) -> Dict:
        """Pack like mmdet3d, then attach the ``BEV_GT_KEYS`` present to the data sample."""
        packed = super().pack_single_results(results)
        for key in self.bev_keys:
            if key not in results:
                continue
            masks = results[key]
            if not isinstance(masks, torch.Tensor):
                masks = torch.from_numpy(np.ascontiguousarray(masks))
            if masks.dim() != 3:
                raise ValueError(f"Pack3DDetBEVInputs: results['{key}'] must be "
                                 f'{_GT_LAYOUT[key]}, got shape {tuple(masks.shape)}')
            packed['data_samples'].set_field(masks, key)
        return packed

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(keys={list(self.keys) + list(self.bev_keys)}, '
                f'meta_keys={self.meta_keys})')
