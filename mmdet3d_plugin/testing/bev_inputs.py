"""Random multi-modal batches with the real nuScenes camera rig, for BEV model tests and benchmarks.

The rig's calibration (nuScenes' calibrated mounting positions) comes from the synthetic
world's :func:`~mmdet3d_plugin.synthetic.rig.build_rig`: :mod:`mmdet3d_plugin.testing` is test
support, imported only by ``tests/`` and ``benchmarks/``, so it may use the synthetic world
(the layer rules are in ``tests/test_layers.py``).
"""
from typing import Sequence

import numpy as np
import torch
from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
from mmengine.structures import InstanceData

from mmdet3d_plugin.structures.nuscenes_names import NUSCENES_CAMERAS
from mmdet3d_plugin.synthetic.rig import build_rig


def _pose(rotation, translation):
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = translation
    return matrix


def rig_matrices(image_size=(400, 225)):
    """``cam2img`` and ``lidar2cam`` (6, 4, 4) of the nuScenes rig at ``image_size`` (W, H)."""
    rig = build_rig(image_size)
    lidar2ego = _pose(rig['LIDAR_TOP'].rotation, rig['LIDAR_TOP'].translation)
    cam2img, lidar2cam = [], []
    for name in NUSCENES_CAMERAS:
        intrinsic = np.eye(4)
        intrinsic[:3, :3] = rig[name].intrinsic
        cam2img.append(intrinsic)
        lidar2cam.append(np.linalg.inv(_pose(rig[name].rotation, rig[name].translation))
                         @ lidar2ego)
    return np.stack(cam2img).astype(np.float32), np.stack(lidar2cam).astype(np.float32)


def resize_matrix(scale_x: float, scale_y: float, views: int = 6) -> np.ndarray:
    """``img_aug_matrix`` of a plain resize, ``(views, 4, 4)``."""
    matrix = np.eye(4, dtype=np.float32)
    matrix[0, 0], matrix[1, 1] = scale_x, scale_y
    return np.repeat(matrix[None], views, axis=0)


def make_batch(batch_size: int = 2, image_size=(128, 352), num_points: int = 4000,
               num_boxes: Sequence[int] = (3, 0), with_imgs: bool = True,
               with_points: bool = True, masks: bool = True, seed: int = 0,
               point_counts: Sequence[int] = None) -> dict:
    """A batch for ``model.data_preprocessor`` (``inputs`` + ``data_samples``)."""
    rng = np.random.default_rng(seed)
    cam2img, lidar2cam = rig_matrices()
    aug = resize_matrix(image_size[1] / 400, image_size[0] / 225)
    inputs = dict()
    if with_imgs:
        inputs['img'] = [torch.rand(6, 3, *image_size) * 255 for _ in range(batch_size)]
    if with_points:
        counts = point_counts or [num_points] * batch_size
        inputs['points'] = []
        for count in counts:
            xyz = rng.uniform([-50, -50, -2], [50, 50, 1], size=(count, 3))
            extra = rng.uniform(0, 1, size=(count, 2))
            inputs['points'].append(torch.from_numpy(np.hstack([xyz, extra])).float())
    samples = []
    for index in range(batch_size):
        sample = Det3DDataSample(metainfo=dict(
            cam2img=cam2img, lidar2cam=lidar2cam, img_aug_matrix=aug,
            lidar_aug_matrix=np.eye(4, dtype=np.float32), box_type_3d=LiDARInstance3DBoxes,
            num_views=6))
        count = num_boxes[index % len(num_boxes)]
        boxes = np.zeros((count, 9), dtype=np.float32)
        boxes[:, :2] = rng.uniform(-40, 40, size=(count, 2))
        boxes[:, 2] = -1.8
        boxes[:, 3:6] = [4.5, 1.9, 1.6]
        boxes[:, 6] = rng.uniform(-np.pi, np.pi, size=count)
        gt = InstanceData()
        gt.bboxes_3d = LiDARInstance3DBoxes(torch.from_numpy(boxes), box_dim=9)
        gt.labels_3d = torch.from_numpy(rng.integers(0, 10, size=count)).long()
        sample.gt_instances_3d = gt
        if masks:
            sample.gt_masks_bev = torch.from_numpy(rng.integers(0, 2, size=(6, 200, 200)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)
