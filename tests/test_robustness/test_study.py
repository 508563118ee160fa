"""RobustnessStudy: one evaluation per applicable setting, atomic per-setting results, resume
without recomputation, failures retried, results of another study refused; config preparation
and pipeline swapping."""
import json

import numpy as np
import pytest
import torch
from mmdet3d.structures.points import LiDARPoints
from mmengine.config import Config

from mmdet3d_plugin.robustness.pipeline_insert import transform_name
from mmdet3d_plugin.robustness.settings import select_settings
from mmdet3d_plugin.robustness.study import (FAILED, NOT_APPLICABLE, OK, RobustnessStudy,
                                             clean_metrics, fingerprint, prepare_study_config,
                                             result_path, set_dataset_pipeline)

PIPELINE = [dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
            dict(type='LoadPointsFromMultiSweeps', sweeps_num=10),
            dict(type='Pack3DDetInputs', keys=['points'])]
# LiDAR-only: the camera corruption is n/a, the other four settings run
SETTINGS = select_settings(['beam_reduction', 'view_drop', 'missing_lidar'],
                           {'beam_reduction': [16, 1], 'view_drop': [2]})
STUDY = fingerprint('configs/x.py', 'ckpt.pth', seed=0)


class FakeEvaluate:
    """Counts calls; NDS drops by 0.1 per inserted corruption transform, MissingLiDAR fails
    when ``fail_lidar``."""

    def __init__(self, fail_lidar=False):
        self.calls = []
        self.fail_lidar = fail_lidar

    def __call__(self, pipeline):
        names = [transform_name(t) for t in pipeline]
        self.calls.append(names)
        if self.fail_lidar and 'MissingLiDAR' in names:
            raise IndexError('index -1 is out of bounds for dimension 0 with size 0')
        beams = next((t['num_beams'] for t in pipeline if t['type'] == 'BeamReduction'), 32)
        return {'det/NDS': np.float32(beams / 32), 'det/mAP': torch.tensor(0.5),
                'det/mATE': float('nan'), 'det/per_class': [1, 2]}


def make_study(tmp_path, evaluate, study_id=STUDY):
    return RobustnessStudy(PIPELINE, SETTINGS, str(tmp_path), evaluate, seed=0,
                           study_id=study_id)


def test_first_run_evaluates_each_applicable_setting_once_and_writes_its_result(tmp_path):
    evaluate = FakeEvaluate()
    records = make_study(tmp_path, evaluate).run(progress=False)
    assert [r['setting'] for r in records] == ['clean', 'beam_reduction-16', 'beam_reduction-1',
                                               'view_drop-2', 'missing_lidar']
    assert [r['status'] for r in records] == [OK, OK, OK, NOT_APPLICABLE, OK]
    assert len(evaluate.calls) == 4  # view_drop-2 is n/a: never evaluated
    assert evaluate.calls[0] == [transform_name(t) for t in PIPELINE]
    assert evaluate.calls[1][1] == 'BeamReduction' and evaluate.calls[3][2] == 'MissingLiDAR'
    assert records[1]['metrics'] == {'det/NDS': 0.5, 'det/mAP': 0.5, 'det/mATE': None}
    assert records[2]['metrics']['det/NDS'] == 1 / 32
    assert records[3]['reason'] == 'the test pipeline loads no camera images'
    assert 'sweeps keep every beam' in records[1]['note']
    for setting, record in zip(SETTINGS, records):
        with open(result_path(str(tmp_path), setting)) as f:
            assert json.load(f) == json.loads(json.dumps(record))
    assert not [p for p in (tmp_path / 'settings').iterdir() if p.name.startswith('.tmp')]


def test_second_run_recomputes_nothing(tmp_path):
    first = make_study(tmp_path, FakeEvaluate()).run(progress=False)
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / 'settings').iterdir()}
    evaluate = FakeEvaluate()
    second = make_study(tmp_path, evaluate).run(progress=False)
    assert evaluate.calls == []
    assert second == json.loads(json.dumps(first))
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / 'settings').iterdir()} == stamps
    # a larger selection later evaluates only the new setting
    more = RobustnessStudy(PIPELINE, select_settings(['beam_reduction', 'view_drop',
                                                      'missing_lidar'],
                                                     {'beam_reduction': [16, 8, 1],
                                                      'view_drop': [2]}),
                           str(tmp_path), evaluate, study_id=STUDY)
    assert len(more.run(progress=False)) == 6 and len(evaluate.calls) == 1
    assert 'BeamReduction' in evaluate.calls[0]


def test_failed_settings_are_reported_not_saved_and_retried(tmp_path):
    records = make_study(tmp_path, FakeEvaluate(fail_lidar=True)).run(progress=False)
    lidar = records[-1]
    assert lidar['status'] == FAILED and lidar['metrics'] == {}
    assert lidar['reason'] == 'IndexError: index -1 is out of bounds for dimension 0 with size 0'
    assert not (tmp_path / 'settings' / 'missing_lidar.json').exists()
    assert (tmp_path / 'settings' / 'clean.json').exists()
    evaluate = FakeEvaluate()
    records = make_study(tmp_path, evaluate).run(progress=False)
    assert len(evaluate.calls) == 1 and 'MissingLiDAR' in evaluate.calls[0]
    assert records[-1]['status'] == OK


def test_results_of_another_study_are_refused(tmp_path):
    make_study(tmp_path, FakeEvaluate()).run(progress=False)
    other = fingerprint('configs/x.py', 'other.pth', seed=0)
    with pytest.raises(ValueError, match='holds a result of another study'):
        make_study(tmp_path, FakeEvaluate(), study_id=other).run(progress=False)


def test_clean_metrics():
    assert clean_metrics({'a': 1, 'b': np.float64(0.25), 'c': torch.tensor([0.5]),
                          'd': float('inf'), 'e': 'text', 'f': np.zeros(3), 'g': True}) == {
                              'a': 1.0, 'b': 0.25, 'c': 0.5, 'd': None}
    assert clean_metrics(None) == {}


def base_config(**loader):
    return Config(dict(
        test_dataloader=dict(num_workers=2, persistent_workers=True, **loader,
                             dataset=dict(type='CBGSDataset', dataset=dict(
                                 type='NuScenesDataset', pipeline=list(PIPELINE)))),
        test_evaluator=[dict(type='BEVMapSegMetric')]))


def test_prepare_study_config():
    cfg = prepare_study_config(base_config(), max_samples=3)
    assert cfg.test_dataloader.persistent_workers is False  # workers see each new pipeline
    assert cfg.test_dataloader.dataset.dataset.indices == 3
    cfg = base_config()
    cfg.test_evaluator = dict(type='NuScenesMetric', data_root='x')
    with pytest.raises(ValueError, match='--max-samples cannot be used with NuScenesMetric'):
        prepare_study_config(cfg, max_samples=3)
    assert 'indices' not in prepare_study_config(cfg).test_dataloader.dataset.dataset
    with pytest.raises(ValueError, match='>= 1'):
        prepare_study_config(base_config(), max_samples=0)
    with pytest.raises(KeyError, match='no pipeline in test_dataloader.dataset'):
        prepare_study_config(Config(dict(test_dataloader=dict(dataset=dict(type='X')))))


def test_set_dataset_pipeline_through_wrappers():
    class Inner:
        pipeline = None

    class Concat:
        def __init__(self):
            self.datasets = [Inner(), Inner()]

    class Wrapper:
        def __init__(self):
            self.dataset = Concat()

    wrapper = Wrapper()
    set_dataset_pipeline(wrapper, [dict(type='MissingLiDAR', seed=0)])
    for inner in wrapper.dataset.datasets:
        points = torch.rand(10, 5)
        out = inner.pipeline(dict(points=LiDARPoints(points, points_dim=5), token='t'))
        assert out['lidar_missing'] and len(out['points']) == 0
    with pytest.raises(AttributeError, match='has no pipeline'):
        set_dataset_pipeline(object(), [])
