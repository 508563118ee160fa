"""tools/train.py, tools/test.py and tools/dist_train.sh, run as users run them: from another
working directory, in fresh processes, on CPU (Gloo for two processes); checkpoints load safely
(weights-only) unless ``--trust-checkpoint``."""
import fractions
import os
import re
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest
import torch

from mmdet3d_plugin.engine import (checkpoints_to_trust, load_checkpoint_file, prepare_test_config,
                                   prepare_train_config)

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CONFIG = str(HERE / 'toy_config.py')


def run_tool(args, cwd, timeout=300, returncode=0):
    env = dict(os.environ, PYTHONPATH=str(HERE), PYTHON=sys.executable, OMP_NUM_THREADS='1')
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    log = out.stdout + out.stderr
    assert out.returncode == returncode, log[-3000:]
    return log


class RunsCommand:
    """Pickles as ``os.system('touch <marker>')``: what a malicious download would hold."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def mse_values(log):
    return [float(v) for v in re.findall(r'mse: ([0-9.]+)', log)]


def train_args(**overrides):
    args = dict(config=CONFIG, work_dir=None, amp=False, auto_scale_lr=False, resume=None,
                cfg_options=None, launcher='none')
    args.update(overrides)
    return Namespace(**args)


@pytest.mark.slow
def test_train_resume_and_test_from_another_directory(tmp_path):
    work = tmp_path / 'work'
    cwd = tmp_path / 'elsewhere'
    cwd.mkdir()
    log = run_tool([sys.executable, str(REPO / 'tools/train.py'), CONFIG, '--work-dir', str(work)], cwd)
    assert (work / 'epoch_2.pth').is_file()
    first = mse_values(log)
    assert len(first) == 2 and first[-1] < first[0], first

    log = run_tool([sys.executable, str(REPO / 'tools/train.py'), CONFIG, '--work-dir', str(work),
                    '--resume', '--cfg-options', 'train_cfg.max_epochs=3'], cwd)
    assert re.search(r'Auto resumed from the latest checkpoint \S*epoch_2\.pth', log), log[-3000:]
    assert 'Loads checkpoint by safe local backend (weights only)' in log
    # 64 samples / batch 8 = 8 iterations an epoch: epoch 3 continues at iteration 16
    assert 'resumed epoch: 2, iter: 16' in log, log[-3000:]
    trained_epochs = set(re.findall(r'Epoch\(train\)\s*\[(\d+)\]', log))
    assert trained_epochs == {'3'}, trained_epochs
    meta = load_checkpoint_file(str(work / 'epoch_3.pth'), logger='silent')['meta']
    assert (meta['epoch'], meta['iter']) == (3, 24)

    log = run_tool([sys.executable, str(REPO / 'tools/test.py'), CONFIG, str(work / 'epoch_3.pth'),
                    '--work-dir', str(tmp_path / 'eval')], cwd)
    assert mse_values(log)[-1] < first[0]


@pytest.mark.slow
def test_amp_training_runs_on_cpu(tmp_path):
    log = run_tool([sys.executable, str(REPO / 'tools/train.py'), CONFIG, '--amp', '--work-dir',
                    str(tmp_path), '--cfg-options', 'train_cfg.max_epochs=1'], tmp_path)
    assert (tmp_path / 'epoch_1.pth').is_file()
    assert 'AutocastOptimWrapper' in log


@pytest.mark.slow
def test_dist_train_runs_two_gloo_processes(tmp_path):
    log = run_tool(['bash', str(REPO / 'tools/dist_train.sh'), CONFIG, '2', '--work-dir', str(tmp_path),
                    '--cfg-options', 'train_cfg.max_epochs=1'], tmp_path)
    assert (tmp_path / 'epoch_1.pth').is_file()
    assert re.search(r"'backend': 'gloo'|backend.*gloo", log), log[-2000:]
    assert 'GPU number: 2' in log, log[-2000:]  # mmengine's wording for the world size


def test_prepare_train_config_applies_arguments(tmp_path):
    cfg = prepare_train_config(train_args(
        work_dir=str(tmp_path), amp=True, resume='auto',
        cfg_options={'train_dataloader.batch_size': 3}))
    assert cfg.work_dir == str(tmp_path)
    assert cfg.train_dataloader.batch_size == 3
    assert cfg.optim_wrapper.type in ('AmpOptimWrapper', 'mmdet3d_plugin.AutocastOptimWrapper')
    assert cfg.resume is True and cfg.load_from is None
    cfg = prepare_train_config(train_args(resume='some/ckpt.pth'))
    assert cfg.load_from == 'some/ckpt.pth'
    assert cfg.work_dir == os.path.join('./work_dirs', 'toy_config')


def test_cpu_launcher_selects_gloo_and_cpu_ddp_wrapper():
    cfg = prepare_train_config(train_args(launcher='pytorch'))
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.type == 'CPUCompatibleDistributedDataParallel'
    assert cfg.launcher == 'pytorch'


def test_missing_config_and_checkpoint_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='config file not found: .*nope.py'):
        prepare_train_config(train_args(config=str(tmp_path / 'nope.py')))
    with pytest.raises(FileNotFoundError, match='checkpoint not found: .*missing.pth'):
        prepare_test_config(Namespace(config=CONFIG, checkpoint=str(tmp_path / 'missing.pth'),
                                      work_dir=None, amp=False, cfg_options=None, launcher='none'))


@pytest.mark.slow
def test_tools_refuse_unsafe_or_damaged_checkpoints_unless_trusted(tmp_path):
    work = tmp_path / 'work'
    run_tool([sys.executable, str(REPO / 'tools/train.py'), CONFIG, '--work-dir', str(work),
              '--cfg-options', 'train_cfg.max_epochs=1'], tmp_path)
    checkpoint = load_checkpoint_file(str(work / 'epoch_1.pth'), logger='silent')
    custom = tmp_path / 'custom.pth'  # one harmless global outside the allow-list
    torch.save(dict(checkpoint, note=fractions.Fraction(1, 3)), custom)
    marker = tmp_path / 'code_ran'
    malicious = tmp_path / 'malicious.pth'
    torch.save(dict(checkpoint, payload=RunsCommand(marker)), malicious)
    test = [sys.executable, str(REPO / 'tools/test.py'), CONFIG]

    log = run_tool(test + [str(custom), '--work-dir', str(tmp_path / 'e1')], tmp_path, returncode=1)
    assert re.search(r'UnsafeCheckpointError: checkpoint \S*custom\.pth was refused: it needs '
                     r'fractions\.Fraction.*--trust-checkpoint', log), log[-3000:]
    log = run_tool([sys.executable, str(REPO / 'tools/train.py'), CONFIG, '--work-dir',
                    str(tmp_path / 'resumed'), '--resume', str(custom), '--trust-checkpoint'],
                   tmp_path)
    assert 'fully unpickled, --trust-checkpoint' in log and 'resumed epoch: 1, iter: 8' in log

    log = run_tool(test + [str(malicious), '--work-dir', str(tmp_path / 'e3')], tmp_path,
                   returncode=1)
    assert 'posix.system' in log and '--trust-checkpoint' in log, log[-3000:]
    assert 'test.py: error: UnsafeCheckpointError' in log and 'Traceback' not in log
    assert not marker.exists()

    truncated = tmp_path / 'truncated.pth'
    data = (work / 'epoch_1.pth').read_bytes()
    truncated.write_bytes(data[:len(data) // 2])
    log = run_tool([sys.executable, str(REPO / 'tools/train.py'), CONFIG, '--work-dir',
                    str(tmp_path / 't'), '--resume', str(truncated)], tmp_path, returncode=1)
    assert re.search(r'train\.py: error: CheckpointError: checkpoint \S*truncated\.pth cannot be '
                     r'loaded: truncated or corrupt torch\.save archive', log), log[-3000:]
    assert 'Traceback' not in log


def test_trust_checkpoint_names_the_file_the_run_loads(tmp_path):
    cfg = prepare_train_config(train_args(resume='some/ckpt.pth'))
    assert checkpoints_to_trust(cfg, False) == ()
    assert checkpoints_to_trust(cfg, True) == ('some/ckpt.pth', )
    (tmp_path / 'epoch_4.pth').write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_4.pth'))
    cfg = prepare_train_config(train_args(resume='auto', work_dir=str(tmp_path)))
    assert checkpoints_to_trust(cfg, True) == (str(tmp_path / 'epoch_4.pth'), )
    assert checkpoints_to_trust(prepare_train_config(train_args()), True) == ()
