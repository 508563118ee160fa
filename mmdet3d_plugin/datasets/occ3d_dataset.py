"""``Occ3DDataset``: nuScenes samples with Occ3D-nuScenes ground truth, for camera occupancy.

A :class:`NuScenesBEVDataset` over the occupancy infos of ``tools/create_data.py occ3d``
(``occ3d_infos_{train,val}.pkl``: mmdet3d v2 nuScenes infos whose entries carry ``occ3d_path``,
``gts/<scene>/<sample>/labels.npz`` relative to the Occ3D root). Differences from its parent:

* every info must have ``occ3d_path``; one without raises :class:`SampleKeyError` naming the
  key, the sample token and ``ann_file`` while the info file is parsed;
* default modality camera + LiDAR (the keyframe scan is loaded for ``MultiViewDepthGT``'s depth
  supervision, never as a model input);
* ``filter_empty_gt`` defaults to False: the model ignores the boxes of the infos, so a frame
  without boxes is a valid sample (mmdet3d's default would drop it); an info without
  ``instances`` (``v1.0-test``) is read as one without boxes.

The Occ3D root is given to the loader (``LoadOcc3DGT(occ3d_root=...)``) in the config.
"""
from typing import Dict, List, Optional, Union

from mmdet3d_plugin.registry import DATASETS
from .nuscenes_bev_dataset import NuScenesBEVDataset, SampleKeyError


def default_occupancy_modality(modality: Optional[dict]) -> dict:
    """``modality`` or, when None, camera + LiDAR (LiDAR for depth ground truth only)."""
    return dict(use_camera=True, use_lidar=True) if modality is None else modality


def check_occupancy_path(dataset: NuScenesBEVDataset, info: Dict, key: str) -> Dict:
    """Return ``info`` (with ``instances`` defaulting to []) once it has a non-empty ``key``.

    Raises:
        SampleKeyError: naming ``key``, the sample token and the dataset's ``ann_file``.
    """
    if not info.get(key):
        raise SampleKeyError(
            f"{type(dataset).__name__}: info of sample token {info.get('token', '<no token>')} "
            f'in {dataset.ann_file} lacks {key!r} (the occupancy ground-truth file; create the '
            f'infos with tools/create_data.py occ3d / nuscenes-occupancy); it has {sorted(info)}')
    info.setdefault('instances', [])
    return info


@DATASETS.register_module()
class Occ3DDataset(NuScenesBEVDataset):
    """Occ3D-nuScenes camera-occupancy dataset (see the module docstring).

    Args:
        modality (dict, optional): Defaults to ``dict(use_camera=True, use_lidar=True)``.
        filter_empty_gt (bool): Drop frames without boxes. Defaults to False.
        **kwargs: ``NuScenesDataset``'s other arguments (``data_root``, ``ann_file``,
            ``pipeline``, ``data_prefix``, ``test_mode``, ...).
    """

    #: The info key of the ground-truth file.
    occupancy_key = 'occ3d_path'

    def __init__(self, modality: Optional[dict] = None, filter_empty_gt: bool = False,
                 **kwargs) -> None:
        super().__init__(modality=default_occupancy_modality(modality),
                         filter_empty_gt=filter_empty_gt, **kwargs)

    def parse_data_info(self, info: Dict) -> Union[List[Dict], Dict]:
        """Check ``occ3d_path``, then parse like :class:`NuScenesBEVDataset`."""
        return super().parse_data_info(check_occupancy_path(self, info, self.occupancy_key))
