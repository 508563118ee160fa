"""tools/robustness.py as users run it (fresh processes, from another working directory): a
tiny PointPillars checkpoint on a tiny synthetic world, two corruptions, the report files, and
a re-run that recomputes nothing."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = str(REPO / 'tools/robustness.py')
CONFIG = str(REPO / 'configs/pointpillars/pointpillars_hv_secfpn_1xb4-cpu-synthetic_nus-3d.py')
# Tiny checkpoint: the 4 val keyframes of scene-0103 are also the training set (overfitting on
# purpose, so clean scores are above zero): 60 epochs x 2 iterations of batch 2, one thread.
# MEASURED on the 2-core machine (shared, load ~5): training 127 s wall, the first study 29 s;
# clean mAP 0.053 / NDS 0.106, Missing Objects 1.0 mAP 0.000 (with 2 threads on an idle machine:
# 0.060 / 0.099 / 0.000). Threads are pinned to 1: 2 OpenMP threads on the busy machine made
# the same training take 570 s.
EPOCHS = 60
SELECTION = ['--corruptions', 'beam_reduction', 'missing_objects',
             '--severities', 'beam_reduction=32,1', 'missing_objects=0,1.0']
SETTINGS = ['clean', 'missing_objects-0.0', 'missing_objects-1.0', 'beam_reduction-32',
            'beam_reduction-1']


def run(args, cwd, timeout=600, expect=0):
    out = subprocess.run([sys.executable] + [str(a) for a in args], cwd=cwd, capture_output=True,
                         text=True, timeout=timeout, env=dict(os.environ, OMP_NUM_THREADS='1'))
    log = out.stdout + out.stderr
    assert out.returncode == expect, log[-4000:]
    return log


def test_unknown_corruption_is_a_clear_error(tmp_path):
    log = run([TOOL, CONFIG, 'missing.pth', '--corruptions', 'beam_reduction', 'fog'], tmp_path,
              expect=2)
    assert "unknown corruption name(s) ['fog']; valid names: ['limited_field'" in log
    log = run([TOOL, CONFIG, 'missing.pth', '--corruptions', 'beam_reduction', '--severities',
               '3'], tmp_path, expect=2)
    assert '[32, 16, 8, 4, 1]' in log


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory):
    """(cwd holding data/synthetic/nuscenes, checkpoint path).

    Its own world, not the shared one: the config's relative data_root needs the world under
    the tool's working directory, and the measured scores above are for these 4 keyframes.
    """
    from mmdet3d_plugin.datasets.converters import create_nuscenes_infos
    from mmdet3d_plugin.synthetic import WorldConfig
    from mmdet3d_plugin.synthetic.generate import generate_synthetic
    cwd = tmp_path_factory.mktemp('robustness_tool')
    nus = str(cwd / 'data/synthetic/nuscenes')
    generate_synthetic(str(cwd / 'data/synthetic'),
                       WorldConfig(scene_names=('scene-0061', 'scene-0103'), num_keyframes=4),
                       formats=('nuscenes', ), progress=False)
    create_nuscenes_infos(nus, nus, 'v1.0-mini', max_sweeps=10)
    run([REPO / 'tools/train.py', CONFIG, '--work-dir', 'train', '--cfg-options',
         f'train_cfg.max_epochs={EPOCHS}', f'train_cfg.val_interval={EPOCHS + 1}',
         f'param_scheduler.0.end={EPOCHS}', f'default_hooks.checkpoint.interval={EPOCHS}',
         'train_dataloader.dataset.ann_file=nuscenes_infos_val.pkl',
         'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False'], cwd)
    checkpoint = cwd / 'train' / f'epoch_{EPOCHS}.pth'
    assert checkpoint.is_file()
    return cwd, checkpoint


def read_csv(path):
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    return {row['setting']: row for row in rows}, [row['setting'] for row in rows]


def column(row, label):
    """The value of the column whose header starts with ``label [``."""
    key = next(k for k in row if k.startswith(f'{label} ['))
    return float(row[key])


@pytest.mark.slow
def test_two_corruptions_report_and_resume(tiny_checkpoint):
    cwd, checkpoint = tiny_checkpoint
    log = run([TOOL, CONFIG, checkpoint, '--work-dir', 'study'] + SELECTION, cwd)
    study = cwd / 'study'
    # one Runner for all settings: the checkpoint is loaded once, the test loop runs 5 times
    assert log.count('Loads checkpoint') == 1 and log.count('Epoch(test)') == len(SETTINGS)
    for ext in ('md', 'csv', 'png'):
        assert (study / f'robustness.{ext}').stat().st_size > 0
        assert str(study / f'robustness.{ext}') in log  # the tool says where it wrote
    rows, order = read_csv(study / 'robustness.csv')
    assert order == SETTINGS and all(rows[s]['status'] == 'ok' for s in SETTINGS)
    clean = rows['clean']
    assert column(clean, 'mAP') > 0 and column(clean, 'NDS') > 0
    # identity severities reproduce clean exactly: the pipeline swap is deterministic
    for identity in ('missing_objects-0.0', 'beam_reduction-32'):
        for label in ('NDS', 'mAP'):
            assert column(rows[identity], label) == column(clean, label)
            assert float(rows[identity][f'{label} vs clean (%)']) == 0.0
    # every object's points removed: the detector loses its detections
    gone = rows['missing_objects-1.0']
    assert column(gone, 'mAP') < column(clean, 'mAP')
    assert float(gone['mAP vs clean (%)']) == pytest.approx(
        (column(gone, 'mAP') / column(clean, 'mAP') - 1) * 100)
    assert 'sweeps keep every beam' in rows['beam_reduction-1']['note']
    markdown = (study / 'robustness.md').read_text()
    assert all(f'| {setting} |' in markdown for setting in SETTINGS)
    assert sorted(p.name for p in (study / 'settings').iterdir()) == sorted(
        f'{s}.json' for s in SETTINGS)

    # re-run: everything is reused; the model is not even built
    stamps = {p.name: p.stat().st_mtime_ns for p in (study / 'settings').iterdir()}
    log = run([TOOL, CONFIG, checkpoint, '--work-dir', 'study'] + SELECTION, cwd)
    assert '5 finished setting(s)' in log and 'Loads checkpoint' not in log
    assert {p.name: p.stat().st_mtime_ns for p in (study / 'settings').iterdir()} == stamps
    assert (study / 'robustness.md').read_text() == markdown

    # MetaBEV's Table 2: the same checkpoint as the "in-domain" model of missing_objects: the
    # zero-shot study is reused, only its two settings are evaluated again, with equal scores
    log = run([TOOL, CONFIG, checkpoint, '--work-dir', 'study', '--in-domain',
               f'missing_objects={checkpoint}'] + SELECTION, cwd)
    assert log.count('Loads checkpoint') == 1 and log.count('Epoch(test)') == 2
    table = json.loads((study / 'table2.json').read_text())
    rows = {row['setting']: row for row in table['rows']}
    assert list(rows) == SETTINGS
    for setting in ('missing_objects-0.0', 'missing_objects-1.0'):
        nds = rows[setting]['metrics']['NDS']
        assert nds['in_domain'] == nds['zero_shot'] and nds['gain'] == 0.0
    assert rows['beam_reduction-1']['metrics']['NDS']['in_domain'] is None
    markdown = (study / 'table2.md').read_text()
    assert '| beam_reduction-1 | Beam Reduction | 1 |' in markdown and '| — |' in markdown
    assert (study / 'in_domain' / 'missing_objects' / 'settings').is_dir()
