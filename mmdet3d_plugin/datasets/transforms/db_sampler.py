"""``GTPasteDataBaseSampler``: mmdet3d's ``DataBaseSampler`` that runs under numpy >= 1.24.

mmdet3d 1.4's ``DataBaseSampler.sample_all`` builds the pasted labels with ``dtype=np.long``,
an alias numpy removed in 1.24 (open-mmlab/mmdetection3d#2821, unfixed in the 1.4 wheel), so
GT-paste raises ``AttributeError: module 'numpy' has no attribute 'long'`` the first time an
object is pasted under the pinned numpy 1.26. This subclass re-implements ``sample_all`` with
``int64`` labels and skips a class left without database objects by the ``prepare``
filters (mmdet3d's ``sample_class_v2`` fails on it with ``need at least one array to stack``);
everything else (database loading, the ``prepare`` filters, per-class
``BatchSampler`` shuffling, ``sample_class_v2``'s BEV collision test) is mmdet3d's.
It reads the database that
:func:`~mmdet3d_plugin.datasets.converters.create_groundtruth_database` writes. Used as
``ObjectSample(db_sampler=dict(type='GTPasteDataBaseSampler', ...))``.
"""
import os
from typing import List, Optional

import numpy as np
from mmdet3d.datasets.transforms import DataBaseSampler

from mmdet3d_plugin.registry import TRANSFORMS


@TRANSFORMS.register_module()
class GTPasteDataBaseSampler(DataBaseSampler):
    """mmdet3d's ``DataBaseSampler`` (same arguments) whose ``sample_all`` returns int64 labels.

    ``ground_plane`` is not supported (nuScenes has none); ``ObjectSample(use_ground_plane=
    True)`` is refused with a ``ValueError`` naming the option.
    """

    def sample_all(self, gt_bboxes: np.ndarray, gt_labels: np.ndarray,
                   img: Optional[np.ndarray] = None,
                   ground_plane: Optional[np.ndarray] = None) -> Optional[dict]:
        """Sample objects of every class up to its ``sample_groups`` count.

        Args:
            gt_bboxes (np.ndarray): (N, C) the sample's boxes (pasted boxes avoid them).
            gt_labels (np.ndarray): (N, ) their labels.
            img, ground_plane: Unused (must be None for ground_plane).

        Returns:
            dict or None: ``gt_labels_3d`` (M, ) int64, ``gt_bboxes_3d`` (M, C), ``points``
            (the pasted objects' points in the sample's frame), ``group_ids`` (M, ); None when
            nothing could be pasted.
        """
        if ground_plane is not None:
            raise ValueError('GTPasteDataBaseSampler: a ground plane was given (ObjectSample('
                             'use_ground_plane=True)); nuScenes has no ground-plane files, set '
                             'use_ground_plane=False')
        avoid = gt_bboxes
        sampled: List[dict] = []
        for name, max_num in zip(self.sample_classes, self.sample_max_nums):
            missing = max_num - int(np.sum(np.asarray(gt_labels) == self.cat2label[name]))
            num = int(np.round(self.rate * missing))
            if num <= 0 or not self.db_infos.get(name):
                continue  # mmdet3d's np.stack fails on a class without database objects
            picked = self.sample_class_v2(name, num, avoid)
            if picked:
                sampled += picked
                avoid = np.concatenate([avoid, np.stack([s['box3d_lidar'] for s in picked])])
        if not sampled:
            return None
        points = []
        for info in sampled:
            path = os.path.join(self.data_root, info['path']) if self.data_root else info['path']
            object_points = self.points_loader(dict(lidar_points=dict(lidar_path=path)))['points']
            object_points.translate(info['box3d_lidar'][:3])
            points.append(object_points)
        return dict(
            gt_labels_3d=np.array([self.cat2label[s['name']] for s in sampled], dtype=np.int64),
            gt_bboxes_3d=np.stack([s['box3d_lidar'] for s in sampled]),
            points=points[0].cat(points),
            group_ids=np.arange(len(gt_bboxes), len(gt_bboxes) + len(sampled)))
