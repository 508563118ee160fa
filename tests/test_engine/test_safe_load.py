"""Safe checkpoint loading (``mmdet3d_plugin.engine.safe_load``): mmengine checkpoints load
weights-only, a pickle that would run a command is refused before anything runs, damaged files
give one error naming the file, and ``trusted=True`` is the explicit opt-in."""
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.optim.scheduler import OneCycleLR, OneCycleParamScheduler

from mmdet3d_plugin.engine import (CheckpointError, UnsafeCheckpointError, check_checkpoint_file,
                                   load_checkpoint_file, load_model_checkpoint)


class HarmlessNote:
    """A custom (not allow-listed) class a trusted checkpoint may hold."""

    def __init__(self, text):
        self.text = text


class RunsCommand:
    """Pickles as ``os.system('touch <marker>')``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class EvalsCode:
    """Pickles as ``eval(...)`` writing ``<marker>``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return eval, (f"open({self.marker!r}, 'w').close()", )


class WalksAttributes:
    """Pickles as ``getattr(HistoryBuffer, '__init__')``: the first step of an attribute walk."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def assert_single_error(error):
    """No chained traceback: the error is the only one the user sees."""
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def mmengine_like_checkpoint():
    """What mmengine's Runner saves: meta, state dict, optimizer, a one-cycle schedule (its
    annealing function) and a message hub with HistoryBuffers (numpy arrays and statistics
    methods) and numpy scalars."""
    hub = MessageHub(f'safe_load_test_{id(object())}')
    for step in range(3):
        hub.update_scalar('train/loss', 1.0 / (step + 1))
        hub.update_scalar('val/mse', np.float64(0.5))
    hub.update_info('epoch', 2)
    hub.update_info('iter', np.int64(16))
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    schedule = OneCycleLR(optimizer, eta_max=0.1, total_steps=10)
    return dict(meta=dict(epoch=2, iter=16, seed=np.int64(0), dataset_meta=dict(
        classes=('car', ), palette=np.zeros((1, 3), np.uint8), ratio=np.float32(0.5))),
        state_dict=OrderedDict(model.state_dict()), optimizer=optimizer.state_dict(),
        param_schedulers=[schedule.state_dict()], message_hub=hub.state_dict())


def test_mmengine_checkpoint_loads_weights_only(tmp_path):
    path = tmp_path / 'epoch_2.pth'
    saved = mmengine_like_checkpoint()
    torch.save(saved, path)
    before = set(torch.serialization.get_safe_globals())
    assert check_checkpoint_file(str(path)) == str(path)
    loaded = load_checkpoint_file(str(path))
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(np.mean([1, 1 / 2, 1 / 3]))
    assert buffer.statistics('min') == pytest.approx(1 / 3)
    assert loaded['message_hub']['runtime_info']['iter'] == 16
    assert loaded['meta']['dataset_meta']['palette'].dtype == np.uint8
    assert loaded['meta']['dataset_meta']['ratio'] == np.float32(0.5)
    anneal = loaded['param_schedulers'][0]['anneal_func']
    assert anneal is OneCycleParamScheduler._annealing_cos
    torch.testing.assert_close(loaded['state_dict']['weight'], saved['state_dict']['weight'])
    # the allow-list is active only during the load
    assert set(torch.serialization.get_safe_globals()) == before


@pytest.mark.parametrize('make', [
    lambda marker, path: torch.save({'state_dict': {}, 'x': RunsCommand(marker)}, path),
    lambda marker, path: torch.save({'x': EvalsCode(marker)}, path),
    lambda marker, path: torch.save({'x': RunsCommand(marker)}, path,
                                    _use_new_zipfile_serialization=False),
], ids=['os.system', 'eval', 'legacy-format'])
def test_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path, make):
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'downloaded.pth'
    make(marker, path)
    with pytest.raises(UnsafeCheckpointError) as error:
        load_checkpoint_file(str(path))
    message = str(error.value)
    assert str(path) in message and '--trust-checkpoint' in message
    assert 'posix.system' in message or 'builtins.eval' in message
    assert_single_error(error.value)
    assert not marker.exists()
    with pytest.raises(CheckpointError):  # the cheap pre-check refuses it too
        check_checkpoint_file(str(path))
    assert not marker.exists()


def test_plain_pickle_is_not_unpickled(tmp_path):
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'plain.pkl'
    path.write_bytes(pickle.dumps({'x': RunsCommand(marker)}, protocol=2))
    with pytest.raises(CheckpointError, match=r'plain\.pkl cannot be loaded: not a PyTorch '):
        load_checkpoint_file(str(path))
    assert not marker.exists()


def test_getattr_only_reaches_history_buffer_statistics(tmp_path):
    path = tmp_path / 'walk.pth'
    torch.save({'x': WalksAttributes()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"getattr.*'__init__'.*--trust-checkpoint"):
        load_checkpoint_file(str(path))


def test_trusted_checkpoint_with_custom_global_loads_only_when_trusted(tmp_path):
    path = tmp_path / 'note.pth'
    torch.save(dict(state_dict={}, note=HarmlessNote('made by me')), path)
    with pytest.raises(UnsafeCheckpointError, match=r'HarmlessNote.*--trust-checkpoint'):
        load_checkpoint_file(str(path))
    assert load_checkpoint_file(str(path), trusted=True)['note'].text == 'made by me'


def _truncated(path, source):
    data = source.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _crc_broken(path, source):
    """One tensor byte changed: torch.load itself would load the wrong weight silently."""
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo(next(n for n in archive.namelist() if n.endswith('/data/0')))
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 100] ^= 0xFF
    path.write_bytes(bytes(data))


def _not_torch_zip(path, source):
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('weights.txt', 'hello')


@pytest.mark.parametrize('damage, problem', [
    (lambda path, source: path.write_bytes(b''), 'is empty'),
    (_truncated, 'truncated or corrupt torch.save archive'),
    (lambda path, source: path.write_text('not a checkpoint\n'), 'not a PyTorch checkpoint'),
    (_not_torch_zip, 'not a torch.save checkpoint'),
    (lambda path, source: torch.save([1, 2], path), 'holds a list'),
    (lambda path, source: path.write_bytes(
        _legacy_bytes()[:-5]), 'truncated or corrupt legacy'),
], ids=['empty', 'truncated', 'text', 'other-zip', 'list', 'legacy-truncated'])
def test_damaged_file_gives_one_error_naming_file_and_problem(tmp_path, damage, problem):
    source = tmp_path / 'good.pth'
    torch.save(mmengine_like_checkpoint(), source)
    path = tmp_path / 'bad.pth'
    damage(path, source)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint_file(str(path))
    assert not isinstance(error.value, UnsafeCheckpointError)
    assert str(path) in str(error.value) and problem in str(error.value), error.value
    assert_single_error(error.value)


def test_corrupt_archive_member_is_named(tmp_path):
    source = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.arange(64.)}}, source)
    path = tmp_path / 'bad.pth'
    _crc_broken(path, source)
    for load in (load_checkpoint_file, check_checkpoint_file):
        with pytest.raises(CheckpointError, match=r'bad\.pth cannot be loaded: corrupt torch\.save '
                           r'archive \(member .*/data/0 fails its CRC check\)'):
            load(str(path))


def _legacy_bytes():
    import io
    buffer = io.BytesIO()
    torch.save({'state_dict': {'w': torch.ones(3)}}, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='checkpoint not found: .*nope.pth'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))


def test_load_model_checkpoint_strips_ddp_prefix(tmp_path):
    source, target = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    path = tmp_path / 'ddp.pth'
    torch.save({'state_dict': OrderedDict(
        (f'module.{k}', v) for k, v in source.state_dict().items())}, path)
    load_model_checkpoint(target, str(path), strict=True, logger='silent')
    torch.testing.assert_close(target.weight, source.weight)
