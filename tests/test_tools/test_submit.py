"""``tools/test.py CONFIG CHECKPOINT --submit OUT_DIR``: the config rewrite for the annotation-free
split (fast, in process) and, slow, the whole run as a user types it on a tiny synthetic world
with a test split and a randomly initialised PointPillars: the zip and the JSON exist, the JSON
loads with the devkit and holds every test sample, at most 500 boxes each."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from mmengine.config import Config

from mmdet3d_plugin.engine.submission import FORMAT_DIR, prepare_submission, strip_ground_truth

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'test.py'
POINTPILLARS = REPO / 'configs/pointpillars/pointpillars_hv_secfpn_1xb4-cpu-synthetic_nus-3d.py'
BEVFUSION = REPO / 'configs/bevfusion/bevfusion_lidar-cam_tiny_1xb2-cpu_synthetic.py'


def pipeline_types(pipeline):
    types = []
    for step in pipeline:
        types.append(step['type'])
        types += pipeline_types(step.get('transforms', []))
    return types


def test_bev_config_becomes_a_test_split_submission(tmp_path):
    cfg = Config.fromfile(str(BEVFUSION))
    plan = prepare_submission(cfg, str(tmp_path / 'out'), 'test', str(BEVFUSION))
    dataset = cfg.test_dataloader.dataset
    assert dataset.ann_file == 'nuscenes_infos_test.pkl' and dataset.test_mode
    assert dataset.metainfo.version == 'v1.0-test' and dataset.load_eval_anns is False
    types = pipeline_types(dataset.pipeline)
    assert 'LoadBEVMapGT' not in types and 'LoadMultiViewImages' in types
    packed = [step for step in dataset.pipeline if step['type'].startswith('Pack')][-1]
    assert packed['keys'] == ['points', 'img']
    evaluator = cfg.test_evaluator
    assert evaluator.type == 'NuScenesMetric' and evaluator.format_only
    assert evaluator.ann_file == dataset.data_root + 'nuscenes_infos_test.pkl'
    assert evaluator.jsonfile_prefix == str(tmp_path / 'out' / FORMAT_DIR)
    assert plan.meta == dict(use_camera=True, use_lidar=True, use_radar=False, use_map=False,
                             use_external=False) == evaluator.modality
    assert (plan.version, plan.split) == ('v1.0-test', 'test')


def test_val_split_meta_overrides_and_bad_configs(tmp_path):
    cfg = Config.fromfile(str(POINTPILLARS))
    cfg.submission_meta = dict(use_external=True)
    plan = prepare_submission(cfg, str(tmp_path), 'val')
    assert (plan.version, plan.split) == ('v1.0-mini', 'mini_val')
    assert cfg.test_dataloader.dataset.ann_file == 'nuscenes_infos_val.pkl'
    assert plan.meta['use_external'] and plan.meta['use_lidar'] and not plan.meta['use_camera']
    assert strip_ground_truth([dict(type='mmdet3d.LoadAnnotations3D'), dict(
        type='MultiScaleFlipAug3D', transforms=[dict(type='ObjectRangeFilter')])]) == [
            dict(type='MultiScaleFlipAug3D', transforms=[])]
    cfg = Config.fromfile(str(POINTPILLARS))
    cfg.test_evaluator = dict(type='BEVMapSegMetric')
    with pytest.raises(ValueError, match='test_evaluator of x.py has no NuScenesMetric'):
        prepare_submission(cfg, str(tmp_path), 'test', 'x.py')
    cfg = Config.fromfile(str(POINTPILLARS))
    cfg.submission_meta = dict(use_lasers=True)
    with pytest.raises(KeyError, match="unknown key"):
        prepare_submission(cfg, str(tmp_path), 'test')


@pytest.fixture(scope='module')
def world_and_checkpoint(tmp_path_factory):
    """(cwd holding data/synthetic/nuscenes with mini + test infos, random checkpoint)."""
    import torch

    from mmdet3d_plugin.datasets.converters import create_nuscenes_infos
    from mmdet3d_plugin.registry import MODELS
    from mmdet3d_plugin.synthetic import WorldConfig, nuscenes_test_scene_names
    from mmdet3d_plugin.synthetic.generate import generate_synthetic
    cwd = tmp_path_factory.mktemp('submit_tool')
    nus = str(cwd / 'data/synthetic/nuscenes')
    generate_synthetic(str(cwd / 'data/synthetic'),
                       WorldConfig(scene_names=('scene-0103', ), num_keyframes=2,
                                   test_scene_names=nuscenes_test_scene_names(2)),
                       formats=('nuscenes', ), progress=False)
    for version in ('v1.0-mini', 'v1.0-test'):
        create_nuscenes_infos(nus, nus, version, max_sweeps=10, progress=False)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(POINTPILLARS)).model)
    checkpoint = cwd / 'pointpillars_random.pth'
    torch.save({'state_dict': model.state_dict()}, str(checkpoint))
    return cwd, checkpoint


@pytest.mark.slow
def test_submit_writes_a_devkit_loadable_zip_with_every_test_sample(world_and_checkpoint):
    from nuscenes.eval.common.loaders import load_prediction
    from nuscenes.eval.detection.data_classes import DetectionBox

    from mmdet3d_plugin.evaluation.submission import split_sample_tokens
    cwd, checkpoint = world_and_checkpoint
    # a random model scores every anchor alike: let it keep up to 1000 boxes, the writer cuts
    out = subprocess.run(
        [sys.executable, str(TOOL), str(POINTPILLARS), str(checkpoint), '--submit', 'sub',
         '--work-dir', 'work', '--cfg-options', 'model.test_cfg.max_num=1000',
         'model.test_cfg.score_thr=0.0', 'test_dataloader.num_workers=0',
         'test_dataloader.persistent_workers=False'],
        cwd=cwd, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    sub = cwd / 'sub'
    assert sorted(p.name for p in sub.iterdir()) == ['results_nusc.json', 'results_nusc.zip']
    assert str(sub / 'results_nusc.zip') in log and "split 'test' (v1.0-test)" in log
    tokens = split_sample_tokens(str(cwd / 'data/synthetic/nuscenes'), 'v1.0-test', 'test')
    assert len(tokens) == 4
    boxes, meta = load_prediction(str(sub / 'results_nusc.json'), 500, DetectionBox)
    assert set(boxes.sample_tokens) == set(tokens)
    assert meta == dict(use_camera=False, use_lidar=True, use_radar=False, use_map=False,
                        use_external=False)
    counts = [len(boxes[t]) for t in tokens]
    assert max(counts) <= 500 and sum(counts) > 0
    with zipfile.ZipFile(sub / 'results_nusc.zip') as archive:
        assert archive.namelist() == ['results_nusc.json']
        assert json.loads(archive.read('results_nusc.json')) == json.loads(
            (sub / 'results_nusc.json').read_text())


@pytest.mark.slow
def test_finish_refuses_a_submission_missing_a_test_sample(world_and_checkpoint, tmp_path):
    """What the tool does after the test run when a sample has no result (e.g. an info file
    that lost a sample): every reason, and no results_nusc.* written."""
    from mmdet3d_plugin.engine.submission import SubmissionPlan
    from mmdet3d_plugin.evaluation.submission import SubmissionError, split_sample_tokens
    cwd, _ = world_and_checkpoint
    nus = str(cwd / 'data/synthetic/nuscenes')
    tokens = split_sample_tokens(nus, 'v1.0-test', 'test')
    meta = dict(use_camera=False, use_lidar=True, use_radar=False, use_map=False,
                use_external=False)
    plan = SubmissionPlan(str(tmp_path), nus, 'v1.0-test', 'test', 'nuscenes_infos_test.pkl',
                          meta)
    os.makedirs(os.path.dirname(plan.formatted_json))
    with open(plan.formatted_json, 'w') as f:
        json.dump({'meta': meta, 'results': {t: [] for t in tokens[1:]}}, f)
    with pytest.raises(SubmissionError) as info:
        plan.finish_and_report()
    assert f'1 of the {len(tokens)} sample tokens of the split are missing' in str(info.value)
    assert tokens[0] in str(info.value)
    assert not [p for p in os.listdir(tmp_path) if p.startswith('results_nusc')]
