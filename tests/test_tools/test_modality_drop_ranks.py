"""The switched-modality drop differs between ranks and repeats on a rerun.

``bash tools/dist_train.sh`` runs two Gloo processes on the toy regression data; the model
(:class:`ModalityDropProbe`, registered here and imported by the training processes through
``custom_imports``) draws a drop pattern at every training step with the
:class:`ModalityDropSampler` that ``MultiModalBEVDetector`` uses, and records it per rank.
mmengine seeds both ranks alike (``randomness.seed=0``), so drawing from the global RNG would
give both ranks the same pattern.
"""
import json
from pathlib import Path

import pytest
import torch
from mmengine.dist import get_rank
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.registry import MODELS

from mmdet3d_plugin.models.detectors import ModalityDropSampler, draw_modality_drop, drop_generator
from test_dist_equivalence import CONFIG, REPO, run

DROP = (0.25, 0.25)
BATCH = 4  # per rank: 64 samples / 2 ranks / 4 = 8 steps


@MODELS.register_module()
class ModalityDropProbe(BaseModel):
    """The toy regressor plus a modality drop drawn (and recorded) at every training step."""

    def __init__(self, record_dir: str, drop_prob=DROP):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)
        self.dropper = ModalityDropSampler(drop_prob)
        self.record_dir = Path(record_dir)

    def forward(self, inputs, targets, mode='tensor'):
        pred = self.linear(torch.stack(inputs)).squeeze(-1)
        if mode != 'loss':
            return [dict(pred=p, target=t) for p, t in zip(pred, targets)]
        kept = self.dropper(torch.ones(len(inputs), 2, dtype=torch.bool))
        record = dict(iter=MessageHub.get_current_instance().get_info('iter'),
                      kept=kept.int().tolist())
        with open(self.record_dir / f'rank{get_rank()}.jsonl', 'a') as f:
            f.write(json.dumps(record) + '\n')
        return dict(loss=((pred - torch.stack(targets))**2).mean())


def _train(work_dir: Path) -> dict:
    work_dir.mkdir()
    config = work_dir / 'probe_config.py'  # custom_imports is read when the file loads
    config.write_text(f"_base_ = [{CONFIG!r}]\n"
                      "custom_imports = dict(imports=['toy_modules', 'test_modality_drop_ranks'])\n"
                      f"model = dict(_delete_=True, type='ModalityDropProbe', "
                      f"record_dir={str(work_dir)!r})\n")
    run(['bash', str(REPO / 'tools/dist_train.sh'), str(config), '2', '--work-dir',
         str(work_dir), '--cfg-options', 'train_cfg.max_epochs=1',
         f'train_dataloader.batch_size={BATCH}', 'randomness.seed=0'], work_dir)
    patterns = {}
    for rank in (0, 1):
        lines = (work_dir / f'rank{rank}.jsonl').read_text().splitlines()
        patterns[rank] = {r['iter']: r['kept'] for r in map(json.loads, lines)}
    return patterns


@pytest.mark.slow
def test_two_ranks_draw_different_patterns_and_a_rerun_repeats_them(tmp_path):
    first = _train(tmp_path / 'first')
    assert sorted(first[0]) == sorted(first[1]) == list(range(8))
    assert first[0] != first[1]
    assert sum(first[0][i] != first[1][i] for i in range(8)) >= 4  # not one shared stream
    assert len({json.dumps(p) for p in first[0].values()}) > 1  # steps differ too
    dropped = sum(row.count(0) for p in first.values() for k in p.values() for row in k)
    assert 0 < dropped < 2 * 8 * BATCH  # some samples lose a modality, most keep both

    assert _train(tmp_path / 'second') == first

    # the key is (config seed, rank, iteration): recomputed here from the same three numbers
    ones = torch.ones(BATCH, 2, dtype=torch.bool)
    for rank, steps in first.items():
        for step, kept in steps.items():
            expected = draw_modality_drop(ones, DROP, drop_generator(0, rank, step))
            assert kept == expected.int().tolist(), (rank, step)
