"""The training-time modality drop: its own RNG keyed on (seed, rank, iteration)."""
import contextlib
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub

from mmdet3d_plugin.models.detectors import ModalityDropSampler, draw_modality_drop, drop_generator
from mmdet3d_plugin.registry import MODELS
from mmdet3d_plugin.testing import make_batch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METABEV = 'configs/metabev/metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py'


@contextlib.contextmanager
def runtime_info(**info):
    """Set message-hub runtime info (what mmengine's RuntimeInfoHook writes) for a block."""
    hub = MessageHub.get_current_instance()
    saved = {key: hub.runtime_info[key] for key in info if key in hub.runtime_info}
    for key, value in info.items():
        hub.update_info(key, value)
    try:
        yield
    finally:
        for key in info:
            hub.pop_info(key)
        for key, value in saved.items():
            hub.update_info(key, value)


def _draws(key, count=64):
    return torch.rand(count, generator=drop_generator(*key))


def test_generator_depends_on_every_part_of_the_key_and_only_on_it():
    torch.testing.assert_close(_draws((0, 0, 5)), _draws((0, 0, 5)))
    for other in [(1, 0, 5), (0, 1, 5), (0, 0, 6), (0, 0, 5, 1)]:
        assert not torch.allclose(_draws((0, 0, 5)), _draws(other)), other
    torch.manual_seed(123)  # the global RNG plays no part
    torch.testing.assert_close(_draws((0, 0, 5)), _draws((0, 0, 5)))


def test_sampler_reads_seed_and_iteration_from_the_message_hub():
    present = torch.ones(32, 2, dtype=torch.bool)
    sampler = ModalityDropSampler((0.25, 0.25))
    with runtime_info(seed=7, iter=3):
        first = sampler(present)
        second = sampler(present)  # a second draw in the same iteration
    with runtime_info(seed=7, iter=4):
        third = sampler(present)
    expect = [draw_modality_drop(present, (0.25, 0.25), drop_generator(7, 0, 3, 0)),
              draw_modality_drop(present, (0.25, 0.25), drop_generator(7, 0, 3, 1)),
              draw_modality_drop(present, (0.25, 0.25), drop_generator(7, 0, 4, 0))]
    for got, expected in zip((first, second, third), expect):
        assert torch.equal(got, expected)
    assert not torch.equal(first, third)
    # a new sampler (a rerun) in the same state repeats the draw
    with runtime_info(seed=7, iter=3):
        assert torch.equal(ModalityDropSampler((0.25, 0.25))(present), first)
    with pytest.raises(ValueError, match='summing to <= 1'):
        ModalityDropSampler((0.7, 0.7))
    with pytest.raises(ValueError, match='one per modality'):
        ModalityDropSampler((0.1, 0.1, 0.1))


def test_detector_trains_with_the_keyed_drop():
    """MetaBEV's fuser receives the pattern the (seed, rank, iteration) key gives."""
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(REPO, METABEV)).model
    detector = MODELS.build(dict(cfg, modality_drop=(0.5, 0.5)))
    detector.init_weights()
    detector.train()
    seen = []
    detector.fuser.register_forward_pre_hook(lambda module, args: seen.append(args[1].clone()))
    batch = make_batch(batch_size=2)
    data = detector.data_preprocessor(batch, training=True)
    ones = torch.ones(2, 2, dtype=torch.bool)
    with runtime_info(seed=3, iter=10), torch.no_grad():
        detector.fuse_modalities(data['inputs'], data['data_samples'], training=True)
        detector.fuse_modalities(data['inputs'], data['data_samples'], training=False)
    expected = draw_modality_drop(ones, (0.5, 0.5), drop_generator(3, 0, 10, 0))
    assert torch.equal(seen[0], expected)
    assert seen[1].all()  # no drop outside training
