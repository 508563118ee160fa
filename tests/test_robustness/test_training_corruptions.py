"""The in-domain protocol: training corruptions drawn per (seed, epoch, sample) -- different
every epoch and sample, identical on a rerun with the same seed, also through persistent
dataloader workers -- with a per-sample severity, placed in a train pipeline where they must
sit relative to the augmentations."""
import copy
from unittest import mock

import numpy as np
import pytest
import torch
from mmdet3d.structures.points import LiDARPoints
from mmengine.logging import MessageHub
from torch.utils.data import DataLoader

from mmdet3d_plugin.datasets.transforms.corruptions import (EpochKeyedDataset, EpochKeyedSampler,
                                                            RandomCorruption, draw_context,
                                                            draw_key)
from mmdet3d_plugin.registry import TRANSFORMS
from mmdet3d_plugin.robustness import add_training_corruption, insert_training_corruption
from mmdet3d_plugin.robustness.pipeline_insert import transform_name
from mmdet3d_plugin.testing import load_tool

NUM_VIEWS = 6


def sample(index):
    """Points x, y, z, intensity, ring (32 rings) and six 8 x 8 views."""
    rings = np.arange(64) % 32
    points = np.stack([np.cos(rings), np.sin(rings), 0.1 * rings, np.ones(64), rings], axis=1)
    return dict(token=f'token-{index}', sample_idx=index,
                points=LiDARPoints(torch.tensor(points, dtype=torch.float32), points_dim=5),
                img=[np.full((8, 8, 3), 100 + view, np.uint8) for view in range(NUM_VIEWS)])


def draw(transform, index, seed=0, epoch=0):
    """(severity, dropped views) the transform gives sample ``index`` in that epoch."""
    with draw_context(seed, epoch):
        out = transform(sample(index))
    return out['applied_corruptions'][-1]['severity'], tuple(out.get('dropped_views', ()))


def test_draws_change_with_epoch_and_sample_and_repeat_under_the_seed():
    transform = TRANSFORMS.build(dict(type='RandomCorruption', corruption='view_drop'))
    run = {(e, i): draw(transform, i, seed=5, epoch=e) for e in range(4) for i in range(8)}
    rerun = {(e, i): draw(transform, i, seed=5, epoch=e) for e in range(4) for i in range(8)}
    other_seed = {(e, i): draw(transform, i, seed=6, epoch=e) for e in range(4) for i in range(8)}
    assert run == rerun
    assert sum(run[key] != other_seed[key] for key in run) >= 24
    for index in range(8):  # each sample: a new draw (almost always) every epoch
        assert len({run[(e, index)] for e in range(4)}) >= 2
    assert len({run[(0, i)] for i in range(8)}) >= 4  # and samples differ within an epoch
    assert all(len(views) == severity for severity, views in run.values())


def test_severity_is_sampled_per_sample_over_the_configured_set():
    def severities(**kwargs):
        transform = RandomCorruption('beam_reduction', **kwargs)
        return [draw(transform, i)[0] for i in range(48)]

    assert set(severities()) == {16, 8, 4, 1}  # 'random': the suite minus the no-op 32 beams
    assert set(severities(severity=[16, 4])) == {16, 4}
    assert set(severities(severity=8)) == {8}
    half = severities(prob=0.5)
    assert 10 < sum(s is None for s in half) < 38  # clean samples mixed in
    limited = RandomCorruption('limited_field', severity=dict(low=60, high=120))
    fovs = [draw(limited, i)[0] for i in range(24)]
    assert all(60 <= f <= 120 for f in fovs) and len(set(fovs)) == 24
    with pytest.raises(ValueError, match='valid severities'):
        RandomCorruption('beam_reduction', severity=[16, 5])
    with pytest.raises(ValueError, match='range is only valid'):
        RandomCorruption('view_drop', severity=dict(low=1, high=3))


def test_the_corruption_acts_and_beam_reduction_can_drop_the_ring_column():
    transform = RandomCorruption('beam_reduction', severity=4,
                                 transform_args=dict(ring_dim=4, drop_ring=True))
    with draw_context(0, 0):
        out = transform(sample(0))
    assert out['points'].tensor.shape == (8, 4)  # rings 3, 11, 19, 27 of 64 points, no ring
    assert torch.equal(out['points'].tensor[:, 2] * 10 % 8, torch.full((8, ), 3.0))


def test_without_a_draw_context_the_message_hub_gives_seed_and_epoch():
    hub = MessageHub('training-corruptions')  # not registered: other tests' hubs unaffected
    hub.update_info('seed', 11)
    hub.update_info('epoch', 3)
    with mock.patch.object(MessageHub, 'get_current_instance', return_value=hub):
        assert draw_key() == (11, 3)
        with draw_context(2, 7):
            assert draw_key() == (2, 7)
        assert draw_key() == (11, 3)
    with mock.patch.object(MessageHub, 'get_current_instance',
                           return_value=MessageHub('empty')):
        assert draw_key() == (0, 0)


class ToyDataset:
    """Eight samples through one ``RandomCorruption(view_drop)``."""

    metainfo = dict(classes=('car', ))

    def __init__(self):
        self.transform = RandomCorruption('view_drop')

    def __len__(self):
        return 8

    def __getitem__(self, index):
        out = self.transform(sample(index))
        return index, out['applied_corruptions'][-1]['severity'], tuple(out['dropped_views'])


def collate(batch):
    return batch


def epochs_through_workers(seed, num_epochs=3):
    """Per epoch, {index: draw} as two persistent workers produce them."""
    dataset = EpochKeyedDataset(ToyDataset())
    sampler = EpochKeyedSampler(dataset, shuffle=True, seed=seed)
    loader = DataLoader(dataset, batch_size=2, sampler=sampler, num_workers=2,
                        persistent_workers=True, collate_fn=collate)
    epochs = []
    for epoch in range(num_epochs):
        sampler.set_epoch(epoch)
        epochs.append({index: draw for batch in loader for index, *draw in batch})
    return epochs


def test_persistent_workers_see_the_epoch_and_a_rerun_repeats_it():
    first = epochs_through_workers(seed=3)
    assert first == epochs_through_workers(seed=3)
    assert first != epochs_through_workers(seed=4)
    for index in range(8):
        assert len({tuple(epoch[index]) for epoch in first}) >= 2, index
    # what a worker draws equals the in-process draw with the same key
    transform = RandomCorruption('view_drop')
    assert all(tuple(first[e][i]) == draw(transform, i, seed=3, epoch=e)
               for e in range(3) for i in range(8))
    wrapped = EpochKeyedDataset(ToyDataset())
    assert wrapped[(3, 1, 5)] == (5, *draw(transform, 5, seed=3, epoch=1)) and len(wrapped) == 8
    assert wrapped.metainfo == ToyDataset.metainfo


TRAIN = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    dict(type='LoadSweepsWithRing', sweeps_num=9, keep_ring=False),
    dict(type='LoadMultiViewImages'),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='ObjectSample', db_sampler=dict()),
    dict(type='GlobalAugmentAll', rot_range=[-0.3, 0.3]),
    dict(type='ImageAug3D', final_dim=[256, 704], is_train=True),
    dict(type='Pack3DDetBEVInputs', keys=['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d']),
]


def names(pipeline):
    return [transform_name(t) for t in pipeline]


@pytest.mark.parametrize('corruption,after,before', [
    ('view_drop', 'LoadMultiViewImages', 'LoadAnnotations3D'),  # raw views, before ImageAug3D
    ('obstacle_occlusion', 'LoadMultiViewImages', 'LoadAnnotations3D'),
    ('beam_reduction', 'LoadSweepsWithRing', 'LoadMultiViewImages'),  # ring still there
    ('missing_objects', 'LoadAnnotations3D', 'ObjectSample'),  # real objects only
    ('missing_lidar', 'ObjectSample', 'GlobalAugmentAll'),  # pasted points too, sensor frame
    ('limited_field', 'ObjectSample', 'GlobalAugmentAll'),
])
def test_training_placement_relative_to_the_augmentations(corruption, after, before):
    pipeline = insert_training_corruption(TRAIN, corruption).pipeline
    position = names(pipeline).index('RandomCorruption')
    assert names(pipeline)[position - 1] == after and names(pipeline)[position + 1] == before
    assert names(pipeline).index('RandomCorruption') < names(pipeline).index('ImageAug3D')
    assert TRAIN[1]['keep_ring'] is False  # the input is not modified
    if corruption == 'beam_reduction':  # the ring is kept for it, then dropped again
        assert pipeline[1]['keep_ring'] is True
        assert pipeline[2]['transform_args'] == dict(ring_dim=4, drop_ring=True)


def test_training_placement_with_mmdet3d_sweeps_and_misplaced_augmentations():
    stock = [dict(type='LoadPointsFromFile', load_dim=5, use_dim=[0, 1, 2, 3, 4]),
             dict(type='LoadPointsFromMultiSweeps', sweeps_num=9),
             dict(type='GlobalRotScaleTrans'), dict(type='Pack3DDetInputs', keys=['points'])]
    insertion = insert_training_corruption(stock, 'beam_reduction', severity=[16, 8])
    assert names(insertion.pipeline)[:3] == ['LoadPointsFromFile', 'RandomCorruption',
                                             'LoadPointsFromMultiSweeps']  # before the merge
    assert 'keyframe only' in insertion.note
    assert 'no camera images' in insert_training_corruption(stock, 'view_noise').reason
    early_aug = [dict(type='LoadPointsFromFile', load_dim=5, use_dim=5),
                 dict(type='ImageAug3D'), dict(type='LoadMultiViewImages')]
    with pytest.raises(ValueError, match='before ImageAug3D'):
        insert_training_corruption(early_aug, 'view_drop')
    rotated = [stock[0], dict(type='GlobalRotScaleTrans'), stock[1]]
    with pytest.raises(ValueError, match='before GlobalRotScaleTrans'):
        insert_training_corruption(rotated, 'missing_lidar')


def test_add_training_corruption_sets_up_the_config():
    dataset = dict(type='CBGSDataset',
                   dataset=dict(type='NuScenesBEVDataset', pipeline=copy.deepcopy(TRAIN)))
    no_paste = [t for t in TRAIN if t['type'] != 'ObjectSample']
    cfg = dict(train_dataloader=dict(sampler=dict(type='DefaultSampler', shuffle=True),
                                     dataset=dataset),
               custom_hooks=[dict(type='WrappedPipelineSwitchHook', switch_epoch=15,
                                  switch_pipeline=no_paste)])
    note = add_training_corruption(cfg, 'view_noise', severity=[1, 2], prob=0.5)
    loader = cfg['train_dataloader']
    assert loader['sampler'] == dict(type='EpochKeyedSampler', shuffle=True) and note == ''
    assert loader['dataset']['type'] == 'EpochKeyedDataset'
    inner = loader['dataset']['dataset']['dataset']
    corruption = inner['pipeline'][3]
    assert corruption == dict(type='RandomCorruption', corruption='view_noise', severity=[1, 2],
                              prob=0.5, seed=None)
    assert names(cfg['custom_hooks'][0]['switch_pipeline'])[3] == 'RandomCorruption'
    add_training_corruption(cfg, 'missing_objects')  # a second one: wrapped once
    assert loader['dataset']['dataset']['type'] == 'CBGSDataset'
    assert names(inner['pipeline']).count('RandomCorruption') == 2
    with pytest.raises(ValueError, match='InfiniteSampler'):
        add_training_corruption(dict(train_dataloader=dict(
            sampler=dict(type='InfiniteSampler'), dataset=dict(pipeline=TRAIN))), 'view_drop')


def test_tool_tokens_parse_to_random_lists_and_ranges():
    from mmdet3d_plugin.robustness.train_insert import parse_corruption_arg
    assert parse_corruption_arg('beam_reduction') == ('beam_reduction', 'random')
    assert parse_corruption_arg('beam_reduction=16,4') == ('beam_reduction', [16, 4])
    assert parse_corruption_arg('view_drop=2') == ('view_drop', 2)
    assert parse_corruption_arg('limited_field=60:120') == ('limited_field',
                                                            dict(low=60, high=120))
    with pytest.raises(ValueError, match='unknown corruption'):
        parse_corruption_arg('fog=1')
    tool = load_tool('train')
    args = tool.parse_args(['c.py', '--corruption', 'view_drop=1,2', 'beam_reduction',
                            '--corruption-prob', '0.5'])
    assert args.corruption == ['view_drop=1,2', 'beam_reduction'] and args.corruption_prob == 0.5


@pytest.mark.slow  # 5 samples through the real train pipeline: 15 s on the loaded 2 cores
def test_the_synthetic_train_dataloader_redraws_per_epoch(synthetic_world):
    """The camera + LiDAR train config of the synthetic world: view drop and beam reduction
    through NuScenesBEVDataset, LoadSweepsWithRing and packing, keyed by (seed, epoch)."""
    from mmengine.config import Config

    from mmdet3d_plugin.registry import DATA_SAMPLERS, DATASETS
    from mmdet3d_plugin.robustness.train_insert import apply_training_corruptions
    root = str(synthetic_world.nuscenes) + '/'
    cfg = Config.fromfile('configs/_base_/datasets/synthetic-nus-bev.py')
    dataset = cfg.train_dataloader.dataset
    unrelated = ('ObjectSample', 'LoadBEVMapGT', 'MultiViewDepthGT')  # GT-paste, map, depth
    dataset.update(data_root=root, pipeline=[t for t in dataset.pipeline
                                             if transform_name(t) not in unrelated])
    for transform in dataset.pipeline:
        if transform_name(transform) == 'LoadSweepsWithRing':
            transform['sweeps_num'] = 2
        if transform_name(transform).startswith('Pack'):
            transform['keys'] = ['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d']
    clean = DATASETS.build(copy.deepcopy(dataset))[0]
    apply_training_corruptions(cfg, ['view_drop=1,2,3', 'beam_reduction=8'])
    wrapped = DATASETS.build(cfg.train_dataloader.dataset)
    sampler = DATA_SAMPLERS.build(cfg.train_dataloader.sampler,
                                  default_args=dict(dataset=wrapped, seed=0))
    assert len(next(iter(sampler))) == 3 and len(wrapped) == len(sampler)

    def dropped(epoch, seed=0):
        item = wrapped[(seed, epoch, 0)]
        points = item['inputs']['points']
        assert points.shape[1] == clean['inputs']['points'].shape[1]  # ring dropped again
        assert len(points) < 0.5 * len(clean['inputs']['points'])  # 8 of 32 beams
        views = item['data_samples'].metainfo['dropped_views']
        assert not item['inputs']['img'][views].any() and 1 <= len(views) <= 3
        return tuple(views)

    per_epoch = [dropped(epoch) for epoch in range(3)]
    assert len(set(per_epoch)) >= 2 and dropped(1) == per_epoch[1]
