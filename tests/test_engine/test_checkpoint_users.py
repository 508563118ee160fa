"""The robustness study and the prediction pictures load checkpoints through the safe loader:
a malicious file is refused before anything is built or run; ``trust_checkpoint`` opts in."""
import fractions
import os

import pytest
import torch
from mmengine.config import Config

from mmdet3d_plugin.engine import CheckpointError, UnsafeCheckpointError
from mmdet3d_plugin.robustness import run_robustness
from mmdet3d_plugin.visualization.prediction_views import build_model


class RunsCommand:
    """Pickles as ``os.system('touch <marker>')``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def tiny_model_cfg():
    return Config(dict(default_scope='mmdet3d_plugin', model=dict(
        type='mmdet.ChannelMapper', in_channels=[2], out_channels=3, kernel_size=1)))


def test_robustness_study_refuses_a_malicious_checkpoint_first(tmp_path):
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'downloaded.pth'
    torch.save({'state_dict': {}, 'x': RunsCommand(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match=r'downloaded\.pth.*posix\.system.*'
                       r'--trust-checkpoint'):
        run_robustness(str(tmp_path / 'no_config_needed.py'), str(path), str(tmp_path / 'out'))
    assert not marker.exists() and not (tmp_path / 'out').exists()
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointError, match=r'empty\.pth is empty'):
        run_robustness(str(tmp_path / 'no_config_needed.py'), str(empty))


def test_prediction_model_loads_safely_or_when_trusted(tmp_path):
    marker = tmp_path / 'code_ran'
    malicious = tmp_path / 'malicious.pth'
    torch.save({'state_dict': {}, 'x': RunsCommand(marker)}, malicious)
    with pytest.raises(UnsafeCheckpointError, match='posix.system'):
        build_model(tiny_model_cfg(), str(malicious))
    assert not marker.exists()

    source = build_model(tiny_model_cfg(), str(_saved_weights(tmp_path)))
    custom = tmp_path / 'custom.pth'
    torch.save({'state_dict': source.state_dict(), 'note': fractions.Fraction(1, 3)}, custom)
    with pytest.raises(UnsafeCheckpointError, match='fractions.Fraction'):
        build_model(tiny_model_cfg(), str(custom))
    model = build_model(tiny_model_cfg(), str(custom), trust_checkpoint=True)
    torch.testing.assert_close(model.convs[0].conv.weight, source.convs[0].conv.weight)


def _saved_weights(tmp_path):
    from mmdet3d_plugin.registry import MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet3d_plugin'):
        model = MODELS.build(tiny_model_cfg().model)
    path = tmp_path / 'weights.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return path
