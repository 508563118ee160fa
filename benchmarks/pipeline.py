#!/usr/bin/env python
"""Multi-modal nuScenes loading pipeline: Drive3D's vs mmdet3d's stock equivalent, in one run.

Both pipelines load the same samples of the synthetic nuScenes world (generated into a temporary
folder unless ``--data-root`` is given): six 400 x 225 JPEG cameras, the keyframe point cloud and
10 sweeps, 3D boxes; augment images to 352 x 128 and points/boxes globally; pack.

  ours   configs/_base_/datasets/synthetic-nus-bev.py ``train_pipeline``: checked
         LoadPointsFromFile, LoadSweepsWithRing (exact sweep transform), LoadMultiViewImages,
         LoadAnnotations3D, GlobalAugmentAll, LoadBEVMapGT (six-class map GT, NuScenesMap),
         ImageAug3D (resize/crop/flip/rotate in one warp), FastPointsRangeFilter,
         ObjectRangeFilter, ObjectNameFilter, FastPointShuffle, Pack3DDetBEVInputs
  ours without map GT
         the same minus LoadBEVMapGT: exactly the work the stock pipeline does
  stock  mmdet3d 1.4 (built in mmdet3d's scope): LoadPointsFromFile, LoadPointsFromMultiSweeps,
         LoadAnnotations3D, GlobalRotScaleTrans, RandomFlip3D (before the images, which it would
         flip too), LoadMultiViewImageFromFiles(to_float32), MultiViewWrapper(RandomResize3D +
         RandomCrop3D + RandomFlip3D), PointsRangeFilter, ObjectRangeFilter, ObjectNameFilter,
         PointShuffle, Pack3DDetInputs; no
         image rotation (mmdet3d has none for multi-view) and no map GT

Each repeat runs every pipeline over all samples (order rotated per repeat); the table shows
the median over repeats of samples/s, and the ratio ours / stock (target >= 1.0). One process
set up like a DataLoader worker: ``torch.set_num_threads(1)``, ``cv2.setNumThreads(0)``.

    python benchmarks/pipeline.py                       # temporary world, 8 samples, 7 repeats
    python benchmarks/pipeline.py --profile             # + per-transform milliseconds
"""
import argparse
import copy
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'configs/_base_/datasets/synthetic-nus-bev.py'
TRAIN_SCENES = ('scene-0061', 'scene-0553', 'scene-0655', 'scene-0757')


def make_world(out: str, scenes: int, keyframes: int) -> str:
    """Generate the synthetic world and its infos; return the nuScenes data root."""
    from mmdet3d_plugin.datasets.converters import create_nuscenes_infos
    from mmdet3d_plugin.synthetic import WorldConfig
    from mmdet3d_plugin.synthetic.generate import generate_synthetic
    generate_synthetic(out, WorldConfig(scene_names=TRAIN_SCENES[:scenes],
                                        num_keyframes=keyframes), progress=False)
    root = os.path.join(out, 'nuscenes')
    create_nuscenes_infos(root, root, 'v1.0-mini', max_sweeps=10, progress=False)
    return root + '/'


def pipelines(cfg: Config, data_root: str) -> dict:
    """``{name: (transform configs, scope)}`` of the compared pipelines."""
    ours = copy.deepcopy(cfg.train_pipeline)
    for step in ours:
        if step['type'] == 'LoadBEVMapGT':
            step['data_root'] = data_root
    no_map = [dict(step) for step in ours if step['type'] != 'LoadBEVMapGT']
    no_map[-1]['keys'] = [key for key in no_map[-1]['keys'] if key != 'gt_masks_bev']
    (final_h, final_w), (height, width) = cfg.final_dim, cfg.image_size
    stock = [  # 3D flip before the images are loaded: RandomFlip3D would also flip them
        dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
        dict(type='LoadPointsFromMultiSweeps', sweeps_num=cfg.sweeps_num,
             use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True, remove_close=True),
        dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
        dict(type='GlobalRotScaleTrans', rot_range=[-0.3925, 0.3925],
             scale_ratio_range=[0.95, 1.05], translation_std=[0, 0, 0]),
        dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
        dict(type='LoadMultiViewImageFromFiles', to_float32=True, num_views=len(cfg.cameras)),
        dict(type='MultiViewWrapper', transforms=[
            dict(type='RandomResize3D', scale=(width, height),
                 ratio_range=tuple(cfg.train_resize_lim), keep_ratio=True),
            dict(type='RandomCrop3D', crop_size=(final_w, final_h)),  # mmdet's (w, h) order
            dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5, flip_box3d=False)]),
        dict(type='PointsRangeFilter', point_cloud_range=cfg.point_cloud_range),
        dict(type='ObjectRangeFilter', point_cloud_range=cfg.point_cloud_range),
        dict(type='ObjectNameFilter', classes=cfg.class_names),
        dict(type='PointShuffle'),
        dict(type='Pack3DDetInputs', keys=['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d'])]
    return {'ours': (ours, 'mmdet3d_plugin'), 'ours without map GT': (no_map, 'mmdet3d_plugin'),
            'stock mmdet3d': (stock, 'mmdet3d')}


def build_transforms(specs, scope):
    from mmdet3d.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope(scope):
        return [TRANSFORMS.build(spec) for spec in specs]


def run(transforms, infos, profile=None):
    """Run the transforms over every info (deep-copied as the dataset does); return seconds."""
    start = time.perf_counter()
    for info in infos:
        results = copy.deepcopy(info)
        for transform in transforms:
            tic = time.perf_counter()
            results = transform(results)
            if profile is not None:
                name = type(transform).__name__
                profile[name] = profile.get(name, 0.0) + time.perf_counter() - tic
        assert results['inputs']['img'].shape[0] == 6
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', help='nuScenes root with nuscenes_infos_train.pkl '
                        '(default: generate a synthetic world in a temporary folder)')
    parser.add_argument('--scenes', type=int, default=2, help='scenes of the generated world')
    parser.add_argument('--keyframes', type=int, default=4, help='keyframes per scene')
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--profile', action='store_true', help='per-transform milliseconds')
    args = parser.parse_args()
    cv2.setNumThreads(0)  # what mmengine sets
    torch.set_num_threads(1)  # what a DataLoader worker runs with
    from mmdet3d.datasets import NuScenesDataset

    import mmdet3d_plugin.datasets  # noqa: F401  (registers our transforms)
    with tempfile.TemporaryDirectory() as tmp:
        data_root = args.data_root or make_world(os.path.join(tmp, 'world'), args.scenes,
                                                 args.keyframes)
        cfg = Config.fromfile(str(CONFIG))
        dataset = NuScenesDataset(data_root=data_root, ann_file='nuscenes_infos_train.pkl',
                                  data_prefix=cfg.data_prefix, pipeline=[],
                                  modality=dict(use_lidar=True, use_camera=True),
                                  metainfo=dict(cfg.metainfo), test_mode=False)
        infos = []
        for index in range(len(dataset)):
            info = dataset.get_data_info(index)
            info.update(box_type_3d=dataset.box_type_3d, box_mode_3d=dataset.box_mode_3d)
            infos.append(info)
        compared = {name: build_transforms(specs, scope)
                    for name, (specs, scope) in pipelines(cfg, data_root).items()}
        np.random.seed(0)
        for transforms in compared.values():  # warm-up: map files, caches, lazy imports
            run(transforms, infos[:2])
        rates = {name: [] for name in compared}
        profiles = {name: {} for name in compared}
        names = list(compared)
        for repeat in range(args.repeats):
            for name in names[repeat % len(names):] + names[:repeat % len(names)]:
                seconds = run(compared[name], infos, profiles[name] if args.profile else None)
                rates[name].append(len(infos) / seconds)
    median = {name: statistics.median(values) for name, values in rates.items()}
    stock = median['stock mmdet3d']
    print(f'{len(infos)} samples (6 cameras 400x225 -> 352x128, keyframe + {cfg.sweeps_num} '
          f'sweeps), median of {args.repeats} repeats, 1 process\n')
    print('| pipeline | ms / sample | samples/s | ratio vs stock |')
    print('|---|---|---|---|')
    for name, rate in median.items():
        print(f'| {name} | {1000 / rate:.1f} | {rate:.1f} | {rate / stock:.2f}x |')
    if args.profile:
        for name, profile in profiles.items():
            total = args.repeats * len(infos)
            print(f'\n{name}: ms per sample per transform')
            for transform, seconds in profile.items():
                print(f'  {transform:32s} {1000 * seconds / total:7.2f}')


if __name__ == '__main__':
    main()
