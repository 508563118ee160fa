"""The launch scripts (dist_train/dist_test/slurm_*) find the project's interpreter on their own:
the README's ``bash tools/dist_train.sh CONFIG 2`` works from a shell without an activated venv."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCRIPTS = ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh', 'slurm_test.sh')
# A shell as a fresh login gives it: no venv on PATH, no PYTHON, no VIRTUAL_ENV.
BARE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


def bare_env(**extra):
    env = {'PATH': BARE_PATH, 'HOME': os.environ.get('HOME', '/root'), 'OMP_NUM_THREADS': '1'}
    env.update(extra)
    return env


def chosen_python(env, cwd):
    """The interpreter tools/python_env.sh picks in ``env`` (run from ``cwd``)."""
    out = subprocess.run(['bash', '-c', f'source {REPO}/tools/python_env.sh && echo "$PYTHON"'],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return out


@pytest.mark.parametrize('script', SCRIPTS)
def test_every_launch_script_sources_the_interpreter_finder(script):
    text = (REPO / 'tools' / script).read_text()
    assert 'source "$(dirname "$0")/python_env.sh"' in text
    assert 'PYTHON=${PYTHON:-python}' not in text


@pytest.mark.skipif(not (REPO / '.venv/bin/python').exists(),
                    reason='the project .venv (make setup) does not exist in this checkout')
def test_project_venv_is_chosen_without_activation(tmp_path):
    out = chosen_python(bare_env(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(REPO / '.venv/bin/python')


def test_explicit_python_wins(tmp_path):
    out = chosen_python(bare_env(PYTHON=sys.executable), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == sys.executable


def test_interpreter_without_torch_fails_with_the_fix(tmp_path):
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\nexit 1\n')  # an interpreter that cannot import torch
    fake.chmod(0o755)
    out = chosen_python(bare_env(PYTHON=str(fake)), cwd=tmp_path)
    assert out.returncode != 0
    assert 'cannot import torch' in out.stderr and 'make setup' in out.stderr


@pytest.mark.slow
@pytest.mark.skipif(not (REPO / '.venv/bin/python').exists(),
                    reason='the project .venv (make setup) does not exist in this checkout')
def test_dist_train_runs_from_a_shell_without_the_venv(tmp_path):
    """The README's command, from another directory, with only system paths on PATH."""
    env = bare_env(PYTHONPATH=str(HERE))
    out = subprocess.run(['bash', str(REPO / 'tools/dist_train.sh'), str(HERE / 'toy_config.py'),
                          '1', '--work-dir', str(tmp_path / 'work'),
                          '--cfg-options', 'train_cfg.max_epochs=1'],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "No module named 'torch'" not in log
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
