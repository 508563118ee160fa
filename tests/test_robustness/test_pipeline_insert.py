"""Corruptions inserted into test pipelines: after the loaders they need, before formatting,
n/a (with the reason) when the pipeline does not load their input; and the corrupted LiDAR-only
test pipeline run on a tiny synthetic world through mmdet3d's NuScenesDataset."""
import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose

from mmdet3d_plugin.robustness.pipeline_insert import insert_corruption, transform_name
from mmdet3d_plugin.robustness.settings import Setting, all_settings

REPO = Path(__file__).resolve().parents[2]
DATASET_CONFIG = REPO / 'configs/_base_/datasets/synthetic-nus-3d.py'
CAMERA = ('obstacle_occlusion', 'view_drop', 'view_noise', 'missing_camera')

# A BEVFusion-style multi-modal test pipeline (types by name; insertion does not build them).
MULTIMODAL = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    dict(type='LoadSweepsWithRing', sweeps_num=9, test_mode=True),
    dict(type='mmdet3d.LoadMultiViewImageFromFiles', to_float32=True),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='ImageAug3D', final_dim=[256, 704]),
    dict(type='GlobalRotScaleTrans', rot_range=[0, 0], scale_ratio_range=[1, 1]),
    dict(type='PointsRangeFilter', point_cloud_range=[-50, -50, -5, 50, 50, 3]),
    dict(type='Pack3DDetInputs', keys=['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d']),
]


def lidar_only_pipeline():
    return Config.fromfile(str(DATASET_CONFIG)).test_pipeline


def names(pipeline):
    return [transform_name(t) for t in pipeline]


def test_clean_returns_an_unchanged_copy():
    pipeline = lidar_only_pipeline()
    result = insert_corruption(pipeline, Setting())
    assert result.applicable and result.pipeline == pipeline and result.pipeline is not pipeline


@pytest.mark.parametrize('corruption', CAMERA)
def test_camera_corruptions_are_not_applicable_to_a_lidar_only_pipeline(corruption):
    setting = next(s for s in all_settings() if s.corruption == corruption)
    result = insert_corruption(lidar_only_pipeline(), setting)
    assert not result.applicable and result.pipeline is None
    assert result.reason == 'the test pipeline loads no camera images'


def test_lidar_corruptions_go_after_sweeps_and_before_the_augmentation_wrapper():
    pipeline = lidar_only_pipeline()
    before = copy.deepcopy(pipeline)
    for setting, position in ((Setting('limited_field', 60), 2), (Setting('missing_lidar'), 2),
                              (Setting('missing_objects', 0.5), 2)):
        result = insert_corruption(pipeline, setting, seed=7)
        assert result.applicable and result.note == ''
        assert names(result.pipeline) == (names(pipeline)[:position]
                                          + [setting.transform()['type']]
                                          + names(pipeline)[position:])
        assert result.pipeline[position] == setting.transform(seed=7)
    assert pipeline == before  # the input is not modified


def test_beam_reduction_before_mmdet3d_sweeps_reads_the_ring_and_says_sweeps_keep_beams():
    pipeline = lidar_only_pipeline()
    result = insert_corruption(pipeline, Setting('beam_reduction', 4))
    assert names(result.pipeline) == [names(pipeline)[0], 'BeamReduction'] + names(pipeline)[1:]
    assert result.pipeline[1] == dict(type='BeamReduction', num_beams=4, seed=0, ring_dim=4)
    assert 'sweeps keep every beam' in result.note
    # ring column moved by use_dim, missing ring column, no points
    moved = copy.deepcopy(pipeline)
    moved[0]['use_dim'] = [0, 1, 2, 4]
    assert insert_corruption(moved, Setting('beam_reduction', 4)).pipeline[1]['ring_dim'] == 3
    moved[0]['use_dim'] = 4
    result = insert_corruption(moved, Setting('beam_reduction', 4))
    assert not result.applicable and 'without the ring index' in result.reason
    result = insert_corruption([dict(type='mmdet3d.LoadMultiViewImageFromFiles'),
                                dict(type='Pack3DDetInputs', keys=['img'])],
                               Setting('beam_reduction', 4))
    assert result.reason == ('the test pipeline loads no LiDAR points (camera-only input: LiDAR '
                             'corruptions do not apply)')


def test_multimodal_pipeline():
    pipeline = copy.deepcopy(MULTIMODAL)
    # camera corruptions right after image loading, before image augmentation
    for corruption, severity in (('view_drop', 3), ('obstacle_occlusion', None),
                                 ('view_noise', 6), ('missing_camera', None)):
        result = insert_corruption(pipeline, Setting(corruption, severity))
        assert names(result.pipeline)[2:5] == [
            'LoadMultiViewImageFromFiles', Setting(corruption, severity).transform()['type'],
            'LoadAnnotations3D']
    # LiDAR corruptions after LoadSweepsWithRing; MissingObjects after the annotations
    result = insert_corruption(pipeline, Setting('missing_lidar'))
    assert names(result.pipeline)[:3] == ['LoadPointsFromFile', 'LoadSweepsWithRing',
                                          'MissingLiDAR']
    result = insert_corruption(pipeline, Setting('missing_objects', 1.0))
    assert names(result.pipeline)[3:5] == ['LoadAnnotations3D', 'MissingObjects']
    # beam reduction: LoadSweepsWithRing reduces the keyframe and every sweep itself
    result = insert_corruption(pipeline, Setting('beam_reduction', 8))
    assert names(result.pipeline) == names(pipeline)
    assert result.pipeline[1]['beam_reduction'] == 8 and 'beam_reduction' not in pipeline[1]
    assert 'every sweep' in result.note
    pipeline[1]['beam_reduction'] = 16
    result = insert_corruption(pipeline, Setting('beam_reduction', 8))
    assert not result.applicable and 'already reduces' in result.reason


def test_loaders_inside_a_wrapper_get_the_corruption_inside_it():
    pipeline = [dict(type='MultiScaleFlipAug3D', img_scale=(1333, 800), pts_scale_ratio=1,
                     transforms=[dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
                                 dict(type='mmdet3d.LoadMultiViewImageFromFiles'),
                                 dict(type='RandomFlip3D')]),
                dict(type='Pack3DDetInputs', keys=['points', 'img'])]
    result = insert_corruption(pipeline, Setting('view_drop', 2))
    assert names(result.pipeline) == names(pipeline)
    assert names(result.pipeline[0]['transforms']) == [
        'LoadPointsFromFile', 'LoadMultiViewImageFromFiles', 'ViewDrop', 'RandomFlip3D']
    result = insert_corruption(pipeline, Setting('limited_field', 90))
    assert names(result.pipeline[0]['transforms'])[:2] == ['LoadPointsFromFile', 'LimitedField']


def test_missing_inputs_and_misordered_pipelines():
    pipeline = lidar_only_pipeline()
    result = insert_corruption(pipeline, Setting('missing_objects', 0.5), eval_boxes=False)
    assert not result.applicable and 'needs GT boxes' in result.reason
    mono = [dict(type='LoadImageFromFileMono3D'), dict(type='Pack3DDetInputs', keys=['img'])]
    result = insert_corruption(mono, Setting('view_drop', 1))
    assert not result.applicable and 'multi-view' in result.reason
    packed_first = [dict(type='Pack3DDetInputs', keys=['points']),
                    dict(type='LoadPointsFromFile', load_dim=5, use_dim=5)]
    with pytest.raises(ValueError, match='runs after the formatting transform Pack3DDetInputs'):
        insert_corruption(packed_first, Setting('missing_lidar'))
    with pytest.raises(TypeError, match='transform configs'):
        insert_corruption(['LoadPointsFromFile'], Setting('missing_lidar'))


# ---------------------------------------------------------------- on real synthetic samples
@pytest.fixture(scope='module')
def data_root(synthetic_world):
    """The shared world's nuScenes root (val: scene-0103)."""
    return str(synthetic_world.nuscenes) + '/'


def dataset_with(pipeline, data_root):
    from mmdet3d_plugin.registry import DATASETS
    cfg = Config.fromfile(str(DATASET_CONFIG)).test_dataloader.dataset
    cfg.update(data_root=data_root, pipeline=pipeline)
    return DATASETS.build(cfg)


def inside_boxes(points, boxes):
    """(N,) bool: the point lies in one of the (T, >=7) boxes (mmcv's CPU op)."""
    from mmcv.ops import points_in_boxes_cpu
    inside = points_in_boxes_cpu(points[None, :, :3].float().contiguous(),
                                 boxes.tensor[None, :, :7].float().contiguous())
    return inside[0].bool().any(dim=1)


def packed_points(dataset, index=0):
    item = dataset[index]
    return item['inputs']['points'], item['data_samples']


def test_corrupted_lidar_pipeline_runs_on_synthetic_samples(data_root):
    clean_pipeline = lidar_only_pipeline()
    Compose(insert_corruption(clean_pipeline, Setting('beam_reduction', 1)).pipeline)  # builds
    clean, sample = packed_points(dataset_with(clean_pipeline, data_root))
    boxes = sample.eval_ann_info['gt_bboxes_3d']
    assert len(boxes) > 0 and inside_boxes(clean, boxes).any()

    # MissingObjects 1.0 reads the boxes from eval_ann_info and empties every box
    pipeline = insert_corruption(clean_pipeline, Setting('missing_objects', 1.0)).pipeline
    points, _ = packed_points(dataset_with(pipeline, data_root))
    assert 0 < len(points) < len(clean)
    assert not inside_boxes(points, boxes).any()

    # LimitedField 60: only points within +-60 degrees of ego forward (LIDAR_TOP +y) are left
    pipeline = insert_corruption(clean_pipeline, Setting('limited_field', 60)).pipeline
    points, _ = packed_points(dataset_with(pipeline, data_root))
    azimuth = torch.rad2deg(torch.atan2(points[:, 1], points[:, 0])).numpy()
    assert 0 < len(points) < len(clean) / 2
    assert np.all(np.abs(azimuth - 90.0) <= 60.0 + 1.0)  # ego forward within a degree of +y
    assert math.isclose(np.abs(azimuth - 90).max(), 60.0, abs_tol=2.0)


MULTIMODAL_CONFIG = REPO / 'configs/_base_/datasets/synthetic-nus-bev.py'


def test_corrupted_multimodal_pipeline_runs_on_synthetic_samples(data_root):
    """The camera + LiDAR + BEV-map base config (NuScenesBEVDataset, LoadSweepsWithRing,
    LoadMultiViewImages, ImageAug3D): the corruptions reach the packed inputs."""
    from mmdet3d_plugin.registry import DATASETS
    dataset_cfg = Config.fromfile(str(MULTIMODAL_CONFIG)).test_dataloader.dataset

    def packed(setting):
        result = insert_corruption(dataset_cfg.pipeline, setting)
        cfg = copy.deepcopy(dataset_cfg)
        pipeline = copy.deepcopy(result.pipeline)
        for transform in pipeline:  # the map loader reads the expansion files of its own root
            if transform_name(transform) == 'LoadBEVMapGT':
                transform['data_root'] = data_root
        cfg.update(data_root=data_root, pipeline=pipeline)
        item = DATASETS.build(cfg)[0]
        return result, item['inputs'], item['data_samples']

    _, clean, _ = packed(Setting())
    result, inputs, sample = packed(Setting('view_drop', 6))
    assert names(result.pipeline).index('ViewDrop') == names(result.pipeline).index(
        'LoadMultiViewImages') + 1
    assert inputs['img'].shape == clean['img'].shape and not inputs['img'].any()
    assert clean['img'].flatten(1).any(dim=1).all()
    assert sample.metainfo['camera_missing'] is True
    assert torch.equal(inputs['points'], clean['points'])

    result, inputs, sample = packed(Setting('missing_lidar'))
    assert inputs['points'].shape == (0, clean['points'].shape[1])
    assert sample.metainfo['lidar_missing'] is True and torch.equal(inputs['img'], clean['img'])

    # every sweep loses its beams too: far fewer points than one keyframe's share
    result, inputs, _ = packed(Setting('beam_reduction', 8))
    assert 'every sweep' in result.note
    assert len(inputs['points']) < len(clean['points']) / 3
