"""``NuScenesOccupancyDataset``: nuScenes samples with nuScenes-Occupancy (OpenOccupancy)
ground truth, for camera occupancy.

The sibling of :class:`~.occ3d_dataset.Occ3DDataset` over the infos of ``tools/create_data.py
nuscenes-occupancy`` (``nuscenes_occupancy_infos_{train,val}.pkl``, entries with ``occ_path``,
``scene_<scene>/occupancy/<lidar_token>.npy`` relative to the nuScenes-Occupancy root): every
info must have ``occ_path`` (else :class:`SampleKeyError` naming it, the token and
``ann_file``), default modality camera + LiDAR (LiDAR for depth ground truth),
``filter_empty_gt`` False. The root is given to ``LoadNuScenesOccupancyGT(occ_root=...)``.
"""
from typing import Dict, List, Optional, Union

from mmdet3d_plugin.registry import DATASETS
from .nuscenes_bev_dataset import NuScenesBEVDataset
from .occ3d_dataset import check_occupancy_path, default_occupancy_modality


@DATASETS.register_module()
class NuScenesOccupancyDataset(NuScenesBEVDataset):
    """nuScenes-Occupancy camera-occupancy dataset (see the module docstring).

    Args:
        modality (dict, optional): Defaults to ``dict(use_camera=True, use_lidar=True)``.
        filter_empty_gt (bool): Drop frames without boxes. Defaults to False.
        **kwargs: ``NuScenesDataset``'s other arguments.
    """

    #: The info key of the ground-truth file.
    occupancy_key = 'occ_path'

    def __init__(self, modality: Optional[dict] = None, filter_empty_gt: bool = False,
                 **kwargs) -> None:
        super().__init__(modality=default_occupancy_modality(modality),
                         filter_empty_gt=filter_empty_gt, **kwargs)

    def parse_data_info(self, info: Dict) -> Union[List[Dict], Dict]:
        """Check ``occ_path``, then parse like :class:`NuScenesBEVDataset`."""
        return super().parse_data_info(check_occupancy_path(self, info, self.occupancy_key))
