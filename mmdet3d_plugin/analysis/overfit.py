"""Overfitting check of a BEV model: train on a few fixed frames and score it on the same frames.

A model whose loss cannot be driven down on four frames it sees every iteration has a bug or a
bottleneck (misregistered targets, a head that cannot express the target, a dead branch); one
that memorises them but does not generalise lacks data or iterations. The check removes every
random augmentation from the training pipeline (so the frames are the same at every step),
trains on one fixed batch with AdamW and scores, every ``eval_every`` iterations, the map IoU per
class (the ``BEVMapSegMetric`` rule: best threshold of 0.35-0.65) and the number of boxes above
the head's score threshold on those frames.

Hand-written because mmengine's runner has no "one fixed batch" mode: the loop is a plain
forward / backward over the detector's ``loss`` and ``predict`` modes.
"""
import copy
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmdet3d_plugin.engine.pipeline_switch import innermost_dataset
from mmdet3d_plugin.evaluation.metrics.bev_map import (BEV_MAP_THRESHOLDS, bev_map_summary,
                                                       sum_bev_map_counts)
from mmdet3d_plugin.registry import MODELS

#: Dropped: point-order shuffles (harmless, but the check wants one fixed batch) and GT paste.
DROPPED_TRANSFORMS = ('FastPointShuffle', 'PointShuffle', 'ObjectSample')
#: Sweep loaders switched to their test path (the nearest sweeps instead of a random draw).
SWEEP_LOADERS = ('LoadSweepsWithRing', 'LoadPointsFromMultiSweeps')


def deterministic_pipeline(pipeline: Sequence[dict]) -> List[dict]:
    """The training pipeline with its random augmentations switched off.

    ``GlobalAugmentAll`` keeps the identity (no rotation, scaling, translation or flips),
    ``ImageAug3D`` takes its test-time path (``is_train=False``: the middle of ``resize_lim``, no
    crop jitter, rotation or flip), the sweep loaders take the nearest sweeps (``test_mode``),
    point shuffles and GT paste (``ObjectSample``) are dropped; everything else (loaders, the
    depth GT, filters, packing) is kept, so the targets are the training targets and a seed
    fixes the whole check.

    Args:
        pipeline: Transform configs, e.g. ``cfg.train_dataloader.dataset.pipeline``.

    Returns:
        list: New transform configs (the input is not changed).
    """
    out = []
    for transform in pipeline:
        transform = copy.deepcopy(dict(transform))
        kind = transform.get('type')
        if kind in DROPPED_TRANSFORMS:
            continue
        if kind in SWEEP_LOADERS:
            transform['test_mode'] = True
        elif kind == 'GlobalAugmentAll':
            transform.update(rot_range=[0.0, 0.0], scale_ratio_range=[1.0, 1.0],
                             translation_std=[0.0, 0.0, 0.0], flip_ratio_bev_horizontal=0.0,
                             flip_ratio_bev_vertical=0.0)
        elif kind == 'ImageAug3D':
            low, high = transform.get('resize_lim', (1.0, 1.0))
            middle = (float(low) + float(high)) / 2
            transform.update(resize_lim=(middle, middle), bot_pct_lim=(0.0, 0.0),
                             rot_lim=(0.0, 0.0), rand_flip=False, is_train=False)
        out.append(transform)
    return out


def map_iou_per_class(probs: Sequence[torch.Tensor], gts: Sequence[torch.Tensor],
                      thresholds: Sequence[float] = BEV_MAP_THRESHOLDS) -> torch.Tensor:
    """Map IoU per class over a set of frames, at the best threshold of each class.

    ``BEVMapSegMetric``'s rule (``bev_map_counts`` summed over the frames, then
    ``bev_map_summary``), as a fraction.

    Args:
        probs: Per frame, ``(C, X, Y)`` probabilities.
        gts: Per frame, ``(C, X, Y)`` 0/1 masks.
        thresholds: Probability thresholds tried.

    Returns:
        Tensor: ``(C,)`` IoU in [0, 1] (0 for a class empty in both prediction and GT).
    """
    try:
        counts = sum_bev_map_counts([p.float() for p in probs], gts, thresholds)
    except ValueError as error:
        raise ValueError(f'map_iou_per_class: {error}') from error
    _, best, _ = bev_map_summary(counts)
    return torch.from_numpy(np.nan_to_num(best, nan=0.0)).float()


def _scalar_losses(losses: Dict) -> Dict[str, float]:
    return {k: round(float(v), 4) for k, v in losses.items()
            if 'loss' in k and torch.is_tensor(v) and v.numel() == 1}


def overfit_frames(cfg: Config, frames: int = 4, iters: int = 150, lr: float = 2e-3,
                   eval_every: int = 50, seed: int = 0,
                   log: Optional[callable] = print) -> List[dict]:
    """Train ``cfg.model`` on the first ``frames`` training samples and score it on them.

    Args:
        cfg: A training config (``train_dataloader`` and ``model``).
        frames: Number of fixed frames, one batch.
        iters: Optimisation steps.
        lr: AdamW learning rate (weight decay 0.01, gradients clipped at 35, as the recipe).
        eval_every: Score every this many steps (and after the last).
        seed: ``torch.manual_seed`` before the model is built.
        log: Called with one line per record; ``None`` for silence.

    Returns:
        list: One dict per scored step: ``iter``, ``seconds``, ``losses`` (name -> float),
        ``map_iou`` (class -> IoU in [0, 1]; absent for a model without map head) and
        ``boxes`` (per frame, the number of predicted boxes).
    """
    if frames < 1 or iters < 1 or eval_every < 1:
        raise ValueError(f'overfit_frames: frames, iters and eval_every must be >= 1, got '
                         f'{frames}, {iters}, {eval_every}')
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    dataset = innermost_dataset(loader_cfg.dataset)  # under CBGS / repeat wrappers
    dataset.pipeline = deterministic_pipeline(dataset.pipeline)
    dataset.indices = frames
    loader_cfg.update(batch_size=frames, num_workers=0, persistent_workers=False,
                      sampler=dict(type='DefaultSampler', shuffle=False))
    loader_cfg.pop('batch_sampler', None)
    batch = next(iter(Runner.build_dataloader(loader_cfg)))

    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    if hasattr(model, 'modality_drop'):  # both sensors in every step
        model.modality_drop = (0.0, 0.0)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr, weight_decay=0.01)
    records, started = [], time.time()
    for step in range(1, iters + 1):
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
        optimizer.step()
        if step % eval_every and step != iters and step != 1:
            continue
        record = dict(iter=step, seconds=round(time.time() - started, 1),
                      losses=_scalar_losses(losses))
        record.update(_score(model, batch))
        records.append(record)
        if log is not None:
            log(f"[overfit] iter {step} ({record['seconds']} s): {record}")
    return records


def _score(model, batch) -> dict:
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        outputs = model(**data, mode='predict')
    model.train()
    scored = dict(boxes=[len(o.pred_instances_3d.scores_3d) if 'pred_instances_3d' in o else 0
                         for o in outputs])
    if getattr(model, 'seg_head', None) is not None:
        probs = [o.masks_bev for o in outputs]
        gts = [torch.as_tensor(s.gt_masks_bev) for s in data['data_samples']]
        ious = map_iou_per_class(probs, gts)
        scored['map_iou'] = {name: round(float(v), 4)
                             for name, v in zip(model.seg_head.classes, ious)}
    return scored
