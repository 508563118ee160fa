"""``NuScenesBEVDataset``: mmdet3d's ``NuScenesDataset`` whose key errors name the sample.

mmdet3d's dataset and most transforms index info dicts directly, so an info file without
``lidar_points``, ``images`` or ``ego2global`` fails with a bare ``KeyError: 'images'`` -- no
sample, no file. This subclass changes nothing else (same arguments, same output):

* while parsing the info file, the keys the modality needs are checked (``token``;
  ``lidar_points['lidar_path']`` and ``['num_pts_feats']`` with ``use_lidar``; ``images`` with
  ``use_camera``) and any ``KeyError`` names the key, the sample token and the info file;
* while running the pipeline, a ``KeyError`` whose message does not already name the sample is
  re-raised as :class:`SampleKeyError` naming the missing key, the sample token, its index, the
  info file and the keys its info does have.
"""
from typing import Dict, List, Union

from mmdet3d.datasets import NuScenesDataset

from mmdet3d_plugin.registry import DATASETS


class SampleKeyError(KeyError):
    """A ``KeyError`` whose message is printed as written (not quoted like a key)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def _missing_keys(info: Dict, modality: Dict) -> List[str]:
    missing = [] if 'token' in info else ['token']
    if modality.get('use_lidar'):
        lidar_points = info.get('lidar_points')
        if not isinstance(lidar_points, dict):
            missing.append('lidar_points')
        else:
            missing += [f"lidar_points['{key}']" for key in ('lidar_path', 'num_pts_feats')
                        if key not in lidar_points]
    if modality.get('use_camera') and not isinstance(info.get('images'), dict):
        missing.append('images')
    return missing


@DATASETS.register_module()
class NuScenesBEVDataset(NuScenesDataset):
    """mmdet3d's ``NuScenesDataset`` with key errors that name the key and the sample token.

    Takes exactly ``NuScenesDataset``'s arguments (see the module docstring).
    """

    def parse_data_info(self, info: Dict) -> Union[List[Dict], Dict]:
        """Check the keys the modality needs, then parse like mmdet3d.

        Raises:
            SampleKeyError: naming the missing key(s), the sample token and ``ann_file``.
        """
        where = f"sample token {info.get('token', '<no token>')} in {self.ann_file}"
        missing = _missing_keys(info, self.modality)
        if missing:
            raise SampleKeyError(f'NuScenesBEVDataset: info of {where} lacks {missing} (needed '
                                 f'for modality {self.modality}); it has {sorted(info)}')
        try:
            return super().parse_data_info(info)
        except KeyError as error:
            raise SampleKeyError(f'NuScenesBEVDataset: info of {where} lacks key {error}; it '
                                 f'has {sorted(info)}') from error

    def prepare_data(self, index: int) -> Union[Dict, None]:
        """Run the pipeline like mmdet3d; name the sample in a ``KeyError``."""
        try:
            return super().prepare_data(index)
        except KeyError as error:
            info = self.get_data_info(index)
            token = info.get('token', '<no token>')
            if str(token) in str(error):
                raise
            raise SampleKeyError(
                f'NuScenesBEVDataset: sample token {token} (index {index}, {self.ann_file}): '
                f'the pipeline raised KeyError {error}; the info has keys {sorted(info)}'
            ) from error
