"""The runtime base's visualizer writes TensorBoard event files with the training curves:
tools/train.py on the toy config (tests/test_tools/toy_config.py, which has no runtime base)
given default_runtime.py's visualizer, one epoch, in a fresh process."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / 'tests/test_tools'


@pytest.mark.slow
def test_training_writes_tensorboard_curves(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    cfg = Config.fromfile(str(TOY / 'toy_config.py'), import_custom_modules=False)
    cfg.visualizer = Config.fromfile(str(REPO / 'configs/_base_/default_runtime.py')).visualizer
    cfg.train_cfg.max_epochs = 1
    config = tmp_path / 'toy_tensorboard.py'
    cfg.dump(str(config))
    work = tmp_path / 'work'
    env = dict(os.environ, PYTHONPATH=str(TOY), OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, str(REPO / 'tools/train.py'), str(config),
                          '--work-dir', str(work)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    events = sorted(work.glob('*/vis_data/events.out.tfevents.*'))
    assert len(events) == 1, sorted(str(p) for p in work.rglob('*'))
    assert list(work.glob('*/vis_data/scalars.json'))  # LocalVisBackend too
    curves = EventAccumulator(str(events[0].parent))
    curves.Reload()
    tags = curves.Tags()['scalars']
    assert {'loss', 'lr', 'mse'} <= set(tags), tags
    assert len(curves.Scalars('loss')) >= 1
