"""Info files for occupancy models: the nuScenes v2 infos (:mod:`.nuscenes_infos`), whose
entries carry ``occ3d_path`` (Occ3D ``gts/<scene>/<sample>/labels.npz``) and ``occ_path``
(nuScenes-Occupancy ``scene_<scene>/occupancy/<lidar_token>.npy``), checked against the
occupancy ground truth on disk and with the roots those paths are relative to in ``metainfo``
(``occ3d_root`` / ``occ_root``): what ``LoadOcc3DGT(occ3d_root=...)`` and
``LoadNuScenesOccupancyGT(occ_root=...)`` read.
"""
import os
from typing import Dict, Optional

from .nuscenes_infos import collect_nuscenes_infos, dump_infos

#: info key -> (metainfo key, what the file is)
OCCUPANCY_KEYS = {'occ3d_path': ('occ3d_root', 'Occ3D labels.npz'),
                  'occ_path': ('occ_root', 'nuScenes-Occupancy .npy')}


def create_occupancy_infos(root_path: str, out_dir: Optional[str] = None,
                           version: str = 'v1.0-mini', info_prefix: str = 'occ3d',
                           max_sweeps: int = 10, occ3d_path: Optional[str] = None,
                           occ_path: Optional[str] = None,
                           progress: bool = True) -> Dict[str, str]:
    """Write ``<out_dir>/<info_prefix>_infos_{train,val}.pkl`` for occupancy models.

    Args:
        root_path (str): nuScenes dataroot.
        out_dir (str, optional): Where the info files go; defaults to ``occ3d_path``, else
            ``occ_path``.
        version (str): ``v1.0-mini``, ``v1.0-trainval`` or ``v1.0-test``.
        info_prefix (str): File name prefix.
        max_sweeps (int): LiDAR sweeps kept per sample (<= 40).
        occ3d_path (str, optional): Occ3D-nuScenes root (holding ``gts/``).
        occ_path (str, optional): nuScenes-Occupancy root (holding ``scene_*/``).
        progress (bool): Show a progress bar.

    Returns:
        dict: split name -> path written.

    Raises:
        ValueError: when neither root is given. FileNotFoundError: naming the first sample
            whose occupancy file is missing (nothing is written then).
    """
    roots = {'occ3d_path': occ3d_path, 'occ_path': occ_path}
    roots = {key: root for key, root in roots.items() if root}
    if not roots:
        raise ValueError('give occ3d_path (Occ3D gts/ root) and/or occ_path '
                         '(nuScenes-Occupancy root)')
    for key, root in roots.items():
        if not os.path.isdir(root):
            raise FileNotFoundError(f'{OCCUPANCY_KEYS[key][1]} root not found: {root}')
    metainfo, lists = collect_nuscenes_infos(root_path, version, max_sweeps, progress)
    for split, data_list in lists.items():
        for info in data_list:
            for key, root in roots.items():
                path = os.path.join(root, info[key])
                if not os.path.isfile(path):
                    raise FileNotFoundError(
                        f'{OCCUPANCY_KEYS[key][1]} of sample {info["token"]} ({split}, scene '
                        f'{info["scene_name"]}) not found: {path}')
    metainfo = dict(metainfo)
    for key, root in roots.items():
        metainfo[OCCUPANCY_KEYS[key][0]] = os.path.abspath(root)
    out_dir = out_dir or occ3d_path or occ_path
    os.makedirs(out_dir, exist_ok=True)
    return dump_infos(out_dir, info_prefix, metainfo, lists)
