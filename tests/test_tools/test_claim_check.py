"""The claim-check machinery: seed statistics, learning-rate overrides that reach the config,
resumable runs, and the MetaBEV claim check's stages and report with a fake runner (no
training: the runner writes the files the tools would)."""
import json
import math
import sys
from pathlib import Path

import pytest

from mmdet3d_plugin.analysis import (ModelSpec, TrainSpec, aggregate, lr_options,
                                     per_class_keys, plateau_ratio, run_training, seed_stat,
                                     train_command)
from mmdet3d_plugin.analysis.claim_report import per_class_table, settings_table
from mmdet3d_plugin.engine import prepare_train_config
from mmdet3d_plugin.testing import load_tool

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = str(REPO / 'configs/metabev/metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py')
NDS = 'NuScenes metric/pred_instances_3d_NuScenes/NDS'
MIOU = 'map/mean/iou@max'


def test_seed_stat_is_mean_and_sample_std():
    stat = seed_stat([0.1, 0.2, 0.3, None])
    assert stat.count == 3 and math.isclose(stat.mean, 0.2) and math.isclose(stat.std, 0.1)
    assert stat.format('.2f') == '0.20 ± 0.10'
    assert seed_stat([0.5]).format('.1f') == '0.5 (n=1)' and seed_stat([None]) is None


def test_relative_values_are_per_seed_before_averaging():
    results = {0: {'clean': {NDS: 0.2}, 'missing_lidar': {NDS: 0.1}},
               1: {'clean': {NDS: 0.4}, 'missing_lidar': {NDS: 0.4}}}
    stat = aggregate(results, 'missing_lidar', NDS, relative=True)
    assert math.isclose(stat.mean, 0.75)  # (0.5 + 1.0) / 2, not 0.25 / 0.3
    lines = settings_table({'M': results}, ['clean', 'missing_lidar'])
    assert any('Missing LiDAR' in line and '0.75 ± 0.35' in line for line in lines)


def test_per_class_groups_distance_thresholds_and_map_classes():
    metrics = {f'p/car_AP_dist_{d}': v for d, v in (('0.5', 0.1), ('1.0', 0.3), ('2.0', 0.5),
                                                     ('4.0', 0.7))}
    metrics.update({'map/divider/iou@max': 20.0, 'map/mean/iou@max': 20.0})
    groups = per_class_keys(metrics)
    assert set(groups['AP']) == {'car'} and len(groups['AP']['car']) == 4
    assert set(groups['IoU']) == {'divider'}
    rows = per_class_table({'M': {0: {'clean': metrics}}}, 'AP')
    assert rows[-1] == '| car | 0.400 (n=1) |'


def test_lr_override_reaches_the_config_with_the_scheduler_floor_scaled():
    options = lr_options(SYNTHETIC, 6e-3)
    sys.path.insert(0, str(REPO / 'tools'))
    try:
        from train import parse_args
    finally:
        sys.path.remove(str(REPO / 'tools'))
    spec = TrainSpec(ModelSpec('MetaBEV', SYNTHETIC, ('model.modality_drop=(0.5,0.0)', )), 2,
                     6e-3, 5)
    command = train_command(spec, '/tmp/x', str(REPO / 'tools'))
    assert command[command.index('--max-epochs') + 1] == '5'
    assert set(options) <= set(command) and 'randomness.seed=2' in command
    cfg = prepare_train_config(parse_args(command[2:]))
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(6e-3)
    assert cfg.param_scheduler[1].eta_min == pytest.approx(6e-5)  # the config's lr / 100
    assert cfg.randomness.seed == 2 and tuple(cfg.model.modality_drop) == (0.5, 0.0)
    assert cfg.train_cfg.max_epochs == 5


def test_training_is_skipped_once_finished(tmp_path):
    calls = []

    def fake_run(command):
        calls.append(command)
        work_dir = Path(command[command.index('--work-dir') + 1])
        work_dir.mkdir(parents=True, exist_ok=True)
        (work_dir / 'epoch_3.pth').write_bytes(b'x')

    spec = TrainSpec(ModelSpec('BEVFusion+drop', SYNTHETIC), 0, None, 3)
    assert spec.model.slug == 'bevfusion-drop' and spec.tag == 'lrcfg-e3-s0'
    first = run_training(spec, str(tmp_path / 'run'), str(REPO / 'tools'), fake_run)
    second = run_training(spec, str(tmp_path / 'run'), str(REPO / 'tools'), fake_run)
    assert first == second and first.endswith('epoch_3.pth') and len(calls) == 1


def test_plateau_ratio():
    assert plateau_ratio([(i, 1.0) for i in range(20)]) == pytest.approx(1.0)
    assert plateau_ratio([(i, 10.0 - i * 0.5) for i in range(20)]) < 1.0
    assert plateau_ratio([(0, 1.0)]) is None


class FakeTools:
    """Stands in for tools/train.py and tools/robustness.py: writes a checkpoint or one
    settings JSON per requested setting, with scores that depend on model, lr and seed."""

    def __init__(self):
        self.commands = []

    def __call__(self, command):
        self.commands.append(command)
        work_dir = Path(command[command.index('--work-dir') + 1])
        work_dir.mkdir(parents=True, exist_ok=True)
        if command[1].endswith('train.py'):
            (work_dir / 'epoch_1.pth').write_bytes(b'x')
            return
        options = command[command.index('--cfg-options') + 1:]
        assert 'model.test_cfg.pts.score_threshold=0.0' in options
        run_tag = work_dir.parent.name  # lr..-e..-s<seed>
        seed = int(run_tag.split('-s')[1].split('-')[0])
        lr = float(run_tag.split('-')[0][2:])
        base = 0.3 - abs(lr - 3e-3) * 20 + 0.01 * seed
        if '--corruptions' in command:
            rest = command[command.index('--corruptions') + 1:]
            names = ['clean'] + rest[:min(rest.index(flag) for flag in ('--severities',
                                                                       '--cfg-options')
                                          if flag in rest)]
        else:
            names = ['clean']
        # an in-domain model scores higher under its own corruption
        base += 0.05 * (run_tag.endswith('beam_reduction'))
        (work_dir / 'settings').mkdir(exist_ok=True)
        for index, name in enumerate(names):
            if name == 'beam_reduction':
                name = 'beam_reduction-16'
            metrics = {NDS: base / (1 + index), MIOU: 100 * base / (1 + index),
                       'p/car_AP_dist_1.0': base}
            (work_dir / 'settings' / f'{name}.json').write_text(
                json.dumps({'status': 'ok', 'metrics': metrics}))


def test_claim_check_stages_and_report_with_a_fake_runner(tmp_path):
    tool = load_tool('analysis_tools/metabev_claim_check')
    args = tool.parse_args(['--work-dir', str(tmp_path), '--seeds', '0', '1', '--lrs', '1.5e-3',
                            '3e-3', '--epochs', '2', '--corruptions', 'missing_camera',
                            'missing_lidar', 'beam_reduction', '--severities',
                            'beam_reduction=16', '--in-domain', 'beam_reduction', '--stages',
                            'sweep', 'seeds', 'eval', 'in-domain', 'report'])
    fake = FakeTools()
    check = tool.ClaimCheck(args, run=fake)
    for stage in args.stages:
        getattr(check, 'stage_' + stage.replace('-', '_'))()
    assert json.loads((tmp_path / 'chosen_lr.json').read_text())['MetaBEV'] == 3e-3
    trainings = [c for c in fake.commands if c[1].endswith('train.py')]
    # 5 models x 2 learning rates at seed 0, then seed 1 at the chosen lr: each run once; then
    # MetaBEV and BEVFusion x 2 seeds trained with beam reduction
    assert len(trainings) == 5 * 2 + 5 + 2 * 2
    in_domain = [c for c in trainings if '--corruption' in c]
    assert len(in_domain) == 4 and all(c[c.index('--corruption') + 1] == 'beam_reduction'
                                       for c in in_domain)
    report = (tmp_path / 'claim_check.md').read_text()
    for text in ('## Clean and missing sensors', 'BEVFusion+drop', 'Camera-only', '±',
                 '## Corruption suite (zero-shot)', 'beam_reduction-16', '## Per class',
                 '## Learning-rate sweep', '## In-domain: trained with beam_reduction'):
        assert text in report, text
    assert (tmp_path / 'severity_curves.png').stat().st_size > 1000
    # a rerun finds everything finished and trains nothing
    fake.commands.clear()
    check.stage_seeds()
    assert fake.commands == []


def test_dry_run_plans_without_running(tmp_path, capsys):
    tool = load_tool('analysis_tools/metabev_claim_check')
    assert tool.main(['--work-dir', str(tmp_path), '--dry-run', '--stages', 'world', 'sweep',
                      'seeds']) == 0
    out = capsys.readouterr().out
    assert 'training runs' in out and not (tmp_path / 'runs').exists()
