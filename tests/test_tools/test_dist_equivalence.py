"""Distributed data parallelism is exact: ``tools/dist_train.sh CONFIG 2`` (two Gloo processes
with half the batch each) takes the same SGD steps as ``tools/train.py`` with the whole batch.

Deterministic by construction: the toy regressor has no batch statistics, the data come in a
fixed order (DefaultSampler without shuffling hands rank r the samples r, r + 2, ..., so the two
half-batches of step k together are exactly the single process's batch k), and plain SGD
without momentum makes the update a function of the averaged gradient only. DDP averages the
ranks' gradients of their batch-mean losses, which equals the gradient of the whole-batch mean.
"""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CONFIG = str(HERE / 'toy_config.py')
BATCH = 8
# 64 samples / 8 per step = 8 steps; a large learning rate makes every step move the weights.
COMMON = ['train_cfg.max_epochs=1', 'train_dataloader.sampler.shuffle=False',
          'optim_wrapper.optimizer.lr=0.2', 'optim_wrapper.optimizer.momentum=0.0',
          'randomness.seed=0']


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(args, cwd, timeout=240):
    env = dict(os.environ, PYTHONPATH=str(HERE), PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PORT=str(free_port()))
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    return log


def parameters(checkpoint: Path) -> dict:
    return torch.load(str(checkpoint), map_location='cpu', weights_only=False)['state_dict']


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_whole_batch(tmp_path):
    single, dist = tmp_path / 'single', tmp_path / 'dist'
    run([sys.executable, str(REPO / 'tools/train.py'), CONFIG, '--work-dir', str(single),
         '--cfg-options', f'train_dataloader.batch_size={BATCH}', *COMMON], tmp_path)
    log = run(['bash', str(REPO / 'tools/dist_train.sh'), CONFIG, '2', '--work-dir', str(dist),
               '--cfg-options', f'train_dataloader.batch_size={BATCH // 2}', *COMMON], tmp_path)
    assert 'GPU number: 2' in log, log[-2000:]  # mmengine's wording for the world size

    one, two = parameters(single / 'epoch_1.pth'), parameters(dist / 'epoch_1.pth')
    assert one.keys() == two.keys() and one
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6, msg=name)
    # the runs really trained (8 steps from the same seeded initialisation)
    weight = one['linear.weight'].flatten()
    assert torch.allclose(weight, torch.tensor([2.0, -1.0]), atol=0.3), weight
