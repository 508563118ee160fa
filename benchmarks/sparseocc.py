#!/usr/bin/env python
"""SparseOcc vs the dense occupancy baseline: FLOPs, CPU latency and peak memory in one run.

1. **FLOPs at the paper resolution** (nuScenes-Occupancy: six 256 x 704 images, 128 x 128 x 10
   latent, 17 classes on 512 x 512 x 40, LiDAR-frame grid so ``lidar2occ`` is the identity):
   the dense baseline (``configs/occ_baseline/occ-baseline_cam-r50_8xb1-24e_nus-occupancy.py``)
   and SparseOcc (``configs/sparseocc/sparseocc_cam-r50_8xb1-24e_nus-occupancy.py``), random
   weights (no ResNet-50 checkpoint: ``img_backbone.init_cfg`` dropped), batch 1, one
   ``mode='tensor'`` forward each under :class:`mmdet3d_plugin.analysis.flops.FlopCounter`
   (FLOPs = 2 x multiply-adds; spconv convs as rulebook pairs x Cin x Cout x 2), the images
   random and the cameras ``make_occupancy_batch``'s nuScenes rig (intrinsics scaled to the
   input size), so the lifted volume covers what the six real cameras see. Tensor mode
   is the networks' work: the dense head's voxel logits (trilinear upsampling to the grid, not
   counted) and SparseOcc's query predictions at the active voxels (``occ_head.forward``: no
   decoding to the 512 x 512 x 40 grid). ``--skip-paper`` leaves this part out.
2. **At the synthetic resolution** (the ``*_synthetic.py`` configs, Occ3D 200 x 200 x 16, six
   128 x 352 images), on one fixed batch (``make_occupancy_batch``, B = 1, seed 0): the same
   FLOPs count; ``predict`` latency, median of ``--repeats`` runs after ``--warmup``, the two
   models alternating so machine noise hits both alike; peak memory of one ``predict``, each
   model in its own child process, forked before this process builds anything (a fresh
   interpreter but for the imports). Measured there: the peak resident set during the call
   (Linux ``VmHWM``, reset through ``/proc/self/clear_refs`` just before it) minus the
   resident set just before it (``VmRSS`` after building the model and the batch,
   preprocessing and the ``--warmup`` calls), i.e. activations, temporaries, spconv rulebooks
   and the returned predictions; glibc's mmap threshold fixed at 64 KiB so every large buffer
   is fresh pages (otherwise memory freed by the warm-up could hide new buffers). Without a
   writable ``clear_refs`` the child falls back to ``resource.getrusage`` ``ru_maxrss`` after
   the call minus before it (the JSON names the method). Random weights unless
   ``--dense-checkpoint`` / ``--sparse-checkpoint`` (``load_model_checkpoint``: weights only,
   strict):
   SparseOcc's pruning only drops voxels once ``loss_prune`` has trained it (untrained, its
   bias keeps them all).
3. One table of absolute numbers and SparseOcc / dense ratios next to the targets (FLOPs
   <= 0.25x at the paper resolution, latency <= 0.5x and lower peak memory at the synthetic
   one); SparseOcc's active voxels per level with their share of the level's grid (and, with
   the diffuser's ``mass_channel``, the voxels its mass selection keeps of the lifted ones).

``--sparse-cfg-options`` merges mmengine cfg-options into both SparseOcc configs (paper and
synthetic) only, e.g. the opt-in sparsification by lifted mass:
``model.view_transform.append_mass=True model.occ_encoder.mass_channel=True
model.occ_encoder.keep_mass_ratio=0.25`` (default: none, the configs as they are).

    python benchmarks/sparseocc.py                                  # everything (minutes)
    python benchmarks/sparseocc.py --skip-paper --repeats 1 --warmup 0 --out /tmp/s.json
"""
import argparse
import ctypes
import json
import logging
import os
import os.path as osp
import platform
import resource
import statistics
import sys
import time
import traceback
from math import prod

import numpy as np
import torch
from mmengine.config import DictAction

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODELS_COMPARED = ('dense', 'SparseOcc')
SETUPS = {
    'paper': dict(dense='configs/occ_baseline/occ-baseline_cam-r50_8xb1-24e_nus-occupancy.py',
                  SparseOcc='configs/sparseocc/sparseocc_cam-r50_8xb1-24e_nus-occupancy.py',
                  lidar2occ='identity'),  # LiDAR-frame grid
    'synthetic': dict(dense='configs/occ_baseline/occ-baseline_cam_tiny_1xb2-cpu_synthetic.py',
                      SparseOcc='configs/sparseocc/sparseocc_cam_tiny_1xb2-cpu_synthetic.py',
                      lidar2occ='lidar2ego'),  # Occ3D: ego frame
}
#: Top-level submodules reported together, in table order (the rest is 'other').
GROUPS = (('image backbone + neck', ('img_backbone', 'img_neck')),
          ('view transform', ('view_transform', )), ('occ encoder', ('occ_encoder', )),
          ('occ neck', ('occ_neck', )), ('occ head', ('occ_head', )))
TARGETS = dict(flops=0.25, latency=0.5, memory=1.0)  # SparseOcc / dense: <=, <=, <


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--skip-paper', action='store_true',
                        help='leave out the FLOPs at the paper resolution')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch threads (default: torch's, e.g. from OMP_NUM_THREADS)")
    parser.add_argument('--dense-checkpoint', help='trained weights of the synthetic dense model')
    parser.add_argument('--sparse-checkpoint', help='trained weights of the synthetic SparseOcc')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--sparse-cfg-options', nargs='+', action=DictAction, default=None,
                        metavar='KEY=VALUE',
                        help='mmengine cfg-options merged into the SparseOcc configs only '
                        '(paper and synthetic), e.g. model.occ_encoder.keep_mass_ratio=0.25')
    parser.add_argument('--out', help='also write every number here as JSON (atomically)')
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or (args.threads is not None and args.threads < 1):
        parser.error('need --repeats >= 1, --warmup >= 0 and --threads >= 1')
    for flag in ('dense_checkpoint', 'sparse_checkpoint'):
        path = getattr(args, flag)
        if path is not None and not osp.isfile(path):
            parser.error(f"--{flag.replace('_', '-')}: no such file {path!r}")
    return args


# ---------------------------------------------------------------- models and batches
def build(config: str, checkpoint=None, seed: int = 0, cfg_options=None):
    """The model of ``config`` (with ``cfg_options`` merged) in eval mode: random init
    (seeded), or ``checkpoint``'s weights."""
    from mmdet3d_plugin.engine import load_config, load_model_checkpoint
    from mmdet3d_plugin.registry import MODELS
    cfg = load_config(osp.join(REPO, config), cfg_options)
    cfg.model.img_backbone.pop('init_cfg', None)  # no ResNet-50 weights here
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if checkpoint:
        load_model_checkpoint(model, checkpoint, strict=True, logger='silent')
    return model.eval(), cfg


def make_data(model, cfg, lidar2occ: str, seed: int) -> dict:
    """One preprocessed sample of the config's image size and grid (same for equal seeds)."""
    from mmdet3d_plugin.testing import make_occupancy_batch
    head = cfg.model.occ_head
    torch.manual_seed(seed)  # make_occupancy_batch draws the images from torch's global RNG
    batch = make_occupancy_batch(
        batch_size=1, image_size=tuple(cfg.model.view_transform.image_size),
        grid_shape=tuple(head.grid_shape), num_classes=head.num_classes,
        free_label=cfg.model.get('free_label', 17 if head.num_classes == 18 else 0),
        mask_key=head.get('mask_key'), depth_shape=None,
        lidar2occ=np.eye(4, dtype=np.float32) if lidar2occ == 'identity' else None, seed=seed)
    with torch.no_grad():
        return model.data_preprocessor(batch, training=False)


def predict_once(model, data: dict) -> float:
    """Seconds of one ``predict``; the predictions are dropped from the samples afterwards."""
    start = time.perf_counter()
    with torch.no_grad():
        samples = model(**data, mode='predict')
    elapsed = time.perf_counter() - start
    for sample in samples:
        for key in ('pred_occ', 'pred_occ_probs'):
            sample.pop(key, None)
    return elapsed


# ---------------------------------------------------------------- FLOPs and active voxels
def _describe_output(out) -> str:
    if isinstance(out, torch.Tensor):
        return f'voxel logits {tuple(out.shape)}'
    preds, tokens = out  # SparseMask2FormerOccHead.forward
    cls, logits, empty = preds[-1]
    return (f'{len(preds)} query prediction sets, last: class {tuple(cls.shape)}, mask '
            f'{tuple(logits.shape)} at the finest level\'s active voxels, empty-token '
            f'{tuple(empty.shape)}')


def count(model, data: dict) -> dict:
    """FLOPs of one ``mode='tensor'`` forward, by group, and SparseOcc's active voxels."""
    from mmdet3d_plugin.analysis.flops import FlopCounter
    seen = {}

    def on_lift(module, args, output):
        volume = output[0] if isinstance(output, tuple) else output
        seen['volume'] = (tuple(volume.shape[2:]), int((volume.abs().sum(1) > 0).sum()))
        if getattr(model.occ_encoder, 'mass_channel', False):  # the diffuser's selection
            seen['selected'] = int(model.occ_encoder.input_mask(volume).sum())

    def on_encode(module, args, output):
        if hasattr(output, 'levels'):
            seen['latent'] = output
    handles = [model.view_transform.register_forward_hook(on_lift),
               model.occ_encoder.register_forward_hook(on_encode)]
    try:
        start = time.perf_counter()
        with FlopCounter(model) as counter, torch.no_grad():
            out = model(**data, mode='tensor')
        seconds = time.perf_counter() - start
    finally:
        for handle in handles:
            handle.remove()
    report = counter.report
    top = report.by_top_level()
    groups = {name: sum(top.pop(key, 0) for key in keys) for name, keys in GROUPS}
    groups['other'] = sum(top.values())
    shape, lifted = seen['volume']
    result = dict(gflops=report.total / 1e9, gflops_by_group={k: v / 1e9 for k, v in
                                                              groups.items()},
                  sparse_gflops=report.sparse / 1e9, count_seconds=seconds,
                  params_m=sum(p.numel() for p in model.parameters()) / 1e6,
                  tensor_output=_describe_output(out),
                  lifted=dict(grid_zyx=shape, active=lifted, share=lifted / prod(shape)))
    if 'selected' in seen:
        result['mass_selected'] = dict(active=seen['selected'],
                                       share=seen['selected'] / prod(shape))
    latent = seen.get('latent')
    if latent is not None:
        result['levels'] = [dict(grid_zyx=s, active=n, share=n / prod(s))
                            for s, n in zip(latent.spatial_shapes, latent.num_voxels)]
        result['pruning'] = pruning(model.occ_encoder, latent)
    return result


def pruning(encoder, latent) -> list:
    """Per pruning stage: its stage, voxels scored and kept (``prune_voxels`` on its logits),
    and whether it ran before the completion (then the level holds the regrown set)."""
    from mmdet3d_plugin.sparseocc import prune_voxels
    out = []
    for stage, logits in zip(encoder.prune_stages, latent.prune):
        _, keep = prune_voxels(logits, logits.features[:, 0], encoder.prune_threshold,
                               encoder.min_keep_ratio)
        out.append(dict(stage=int(stage), scored=int(keep.numel()), kept=int(keep.sum()),
                        before_completion=bool(getattr(encoder, 'prune_before_completion',
                                                       False))))
    return out


# ---------------------------------------------------------------- memory (child processes)
def _status_kb(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status')


def _maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _fixed_mmap_threshold() -> None:
    """glibc's ``MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=0``: every buffer of 64 KiB
    or more gets fresh pages and goes back to the system when freed (the dynamic threshold
    would otherwise rise after the first large free and serve later buffers from resident
    heap pages, hiding them from the peak)."""
    try:
        libc = ctypes.CDLL('libc.so.6')
        libc.mallopt(-3, 65536)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 0)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: the peak may then hide reused heap pages


def cfg_options_of(name: str, args):
    """The cfg-options of model ``name``: ``--sparse-cfg-options`` for SparseOcc, else none."""
    return args.sparse_cfg_options if name == 'SparseOcc' else None


def peak_memory(name: str, args) -> dict:
    """Peak memory (MiB) one synthetic ``predict`` adds over the state before it (model, batch,
    warm-up calls), measured in the child process."""
    checkpoint = args.dense_checkpoint if name == 'dense' else args.sparse_checkpoint
    model, cfg = build(SETUPS['synthetic'][name], checkpoint, args.seed,
                       cfg_options_of(name, args))
    data = make_data(model, cfg, SETUPS['synthetic']['lidar2occ'], args.seed)
    for _ in range(args.warmup):
        predict_once(model, data)
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # reset VmHWM to the current resident set
        method, base = 'VmHWM - VmRSS (clear_refs reset)', _status_kb('VmRSS')
    except OSError:
        method, base = 'ru_maxrss after - before', _maxrss_kb()
    predict_once(model, data)
    peak = _status_kb('VmHWM') if method.startswith('VmHWM') else _maxrss_kb()
    return dict(peak_extra_mb=(peak - base) / 1024, baseline_mb=base / 1024,
                peak_mb=peak / 1024, method=method)


def measure_memory(name: str, args) -> dict:
    """:func:`peak_memory` of ``name`` in a child forked from this process.

    Called before this process has built or run any model, so the child starts as a fresh
    interpreter that has only imported the packages (no import time spent again).
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read_fd)
            _fixed_mmap_threshold()
            with os.fdopen(write_fd, 'w') as pipe:
                pipe.write(json.dumps(peak_memory(name, args)))
            code = 0
        except BaseException:  # report, never return into the parent's code
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status or not payload:
        raise RuntimeError(f'the memory child of {name!r} failed (wait status {status}; its '
                           'traceback is above)')
    return json.loads(payload)


# ---------------------------------------------------------------- the run
def paper_flops(args) -> dict:
    """Part 1: FLOPs of both paper models (random weights) on one paper-size sample."""
    out = {}
    for name in MODELS_COMPARED:
        model, cfg = build(SETUPS['paper'][name], seed=args.seed,
                           cfg_options=cfg_options_of(name, args))
        out[name] = count(model, make_data(model, cfg, SETUPS['paper']['lidar2occ'], args.seed))
        del model
    out['ratio'] = out['SparseOcc']['gflops'] / out['dense']['gflops']
    return out


def synthetic(args, memory: dict) -> dict:
    """Part 2: FLOPs and alternating ``predict`` latency of both synthetic models."""
    checkpoints = dict(dense=args.dense_checkpoint, SparseOcc=args.sparse_checkpoint)
    models, data, out = {}, {}, {}
    for name in MODELS_COMPARED:
        models[name], cfg = build(SETUPS['synthetic'][name], checkpoints[name], args.seed,
                                  cfg_options_of(name, args))
        data[name] = make_data(models[name], cfg, SETUPS['synthetic']['lidar2occ'], args.seed)
        out[name] = dict(count(models[name], data[name]), memory=memory[name],
                         weights=checkpoints[name] or 'random init')
    times = {name: [] for name in MODELS_COMPARED}
    for step in range(args.warmup + args.repeats):
        for name in MODELS_COMPARED:
            elapsed = predict_once(models[name], data[name])
            if step >= args.warmup:
                times[name].append(elapsed)
    for name in MODELS_COMPARED:
        out[name].update(latency_ms=statistics.median(times[name]) * 1e3,
                         latency_runs_ms=[t * 1e3 for t in times[name]])
    dense, sparse = out['dense'], out['SparseOcc']
    out['ratio'] = dict(
        flops=sparse['gflops'] / dense['gflops'],
        latency=sparse['latency_ms'] / dense['latency_ms'],
        memory=sparse['memory']['peak_extra_mb'] / max(dense['memory']['peak_extra_mb'], 1e-9))
    return out


def _levels_line(result: dict) -> str:
    lifted = result['lifted']
    parts = [f"lifted {lifted['active']:,} ({100 * lifted['share']:.1f} %)"]
    if 'mass_selected' in result:
        selected = result['mass_selected']
        parts.append(f"mass-selected {selected['active']:,} ({100 * selected['share']:.1f} %)")
    for i, level in enumerate(result['levels']):
        grid = 'x'.join(str(s) for s in level['grid_zyx'][::-1])
        parts.append(f"L{i} {grid}: {level['active']:,} ({100 * level['share']:.1f} %)")
    for prune in result.get('pruning', []):
        when = 'before' if prune['before_completion'] else 'after'
        parts.append(f"stage-{prune['stage']} pruning ({when} completion) kept "
                     f"{prune['kept']:,} of {prune['scored']:,}")
    return '; '.join(parts)


def format_report(res: dict) -> str:
    """The table (Markdown) and the notes under it."""
    args, syn = res['args'], res['synthetic']
    lines = [f"SparseOcc vs the dense occupancy baseline: {res['machine']}, torch {res['torch']}, "
             f"{res['threads']} thread(s), batch 1, latency median of {args['repeats']} after "
             f"{args['warmup']} warm-up", '',
             '| measure | dense | SparseOcc | SparseOcc / dense | target | met |',
             '|---|---:|---:|---:|---|---|']

    def row(label, dense, sparse, fmt, target=None, met=None):
        ratio = sparse / dense if dense else float('nan')
        flag = '' if met is None else ('yes' if met else 'no')
        lines.append(f"| {label} | {dense:{fmt}} | {sparse:{fmt}} | {ratio:.3f}x | "
                     f"{target or ''} | {flag} |")

    for key, title, fmt in (('paper', 'paper 512x512x40', '.1f'),
                            ('synthetic', 'synthetic 200x200x16', '.2f')):
        if key not in res:
            continue
        dense, sparse = res[key]['dense'], res[key]['SparseOcc']
        target = f"<= {TARGETS['flops']}x" if key == 'paper' else None
        row(f'GFLOPs, {title}', dense['gflops'], sparse['gflops'], fmt, target,
            res['met'].get('flops') if key == 'paper' else None)
        for group, value in dense['gflops_by_group'].items():
            if value or sparse['gflops_by_group'][group]:
                row(f'&nbsp;&nbsp;{group}', value, sparse['gflops_by_group'][group], fmt)
    dense, sparse = syn['dense'], syn['SparseOcc']
    row('predict latency ms, synthetic', dense['latency_ms'], sparse['latency_ms'], '.1f',
        f"<= {TARGETS['latency']}x", res['met']['latency'])
    row('predict peak extra memory MiB, synthetic', dense['memory']['peak_extra_mb'],
        sparse['memory']['peak_extra_mb'], '.1f', f"< {TARGETS['memory']:g}x",
        res['met']['memory'])
    for key in ('paper', 'synthetic'):
        if key in res:
            row(f'params M, {key}', res[key]['dense']['params_m'],
                res[key]['SparseOcc']['params_m'], '.2f')
    lines.append('')
    if args.get('sparse_cfg_options'):
        options = ' '.join(f'{k}={v}' for k, v in args['sparse_cfg_options'].items())
        lines.append(f'SparseOcc cfg-options: {options}')
    for key in ('paper', 'synthetic'):
        if key in res:
            weights = res[key]['SparseOcc'].get('weights', 'random init')
            lines.append(f'SparseOcc active voxels, {key} ({weights}): '
                         f"{_levels_line(res[key]['SparseOcc'])}")
    last = res.get('paper', syn)
    lines += [f"tensor-mode outputs: dense {last['dense']['tensor_output']}; SparseOcc "
              f"{last['SparseOcc']['tensor_output']}",
              f"weights (synthetic): dense {dense['weights']}, SparseOcc {sparse['weights']}; "
              f"memory: {dense['memory']['method']}, one predict per child process",
              f"wall time {res['wall_s']:.0f} s (after the imports)"]
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from mmengine.logging import MMLogger

    from mmdet3d_plugin.utils.setup_env import register_all_modules
    register_all_modules()
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # no init_weights log
    start = time.perf_counter()
    res = dict(args=vars(args), torch=torch.__version__, threads=torch.get_num_threads(),
               machine=f'CPU {platform.machine()}, {os.cpu_count()} cores', targets=TARGETS,
               flops_convention='2 x multiply-adds, one mode="tensor" forward')
    # first, while this process has built nothing: the children start from the imports only
    memory = {name: measure_memory(name, args) for name in MODELS_COMPARED}
    if not args.skip_paper:
        res['paper'] = paper_flops(args)
    res['synthetic'] = synthetic(args, memory)
    res['met'] = dict(latency=res['synthetic']['ratio']['latency'] <= TARGETS['latency'],
                      memory=res['synthetic']['ratio']['memory'] < TARGETS['memory'])
    if 'paper' in res:
        res['met']['flops'] = res['paper']['ratio'] <= TARGETS['flops']
    res['wall_s'] = time.perf_counter() - start
    print(format_report(res))
    if args.out:
        from mmdet3d_plugin.utils.atomic_io import write_json
        write_json(args.out, res)
        print(f'results written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
