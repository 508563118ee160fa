#!/usr/bin/env python
"""SparseOcc's claim check: SparseOcc vs the dense camera baseline, same data, schedule and
seeds, on the synthetic Occ3D world; FLOPs at the paper's nuScenes-Occupancy resolution, CPU
latency and peak memory at the synthetic resolution (``benchmarks/sparseocc.py``).

Stages (each resumable; ``--stages`` picks some):

``world``   the synthetic world (``--scenes`` x ``--keyframes``, nuScenes + Occ3D files) and its
            Occ3D infos in ``<work-dir>/data/synthetic`` (the synthetic configs' relative roots).
``train``   both tiny configs, every ``--seeds`` seed, ``--epochs`` epochs (default: the
            configs' 12), through ``tools/train.py``.
``eval``    every checkpoint on the validation split through ``tools/robustness.py`` (clean and
            ``--corruptions``): Occ3D mIoU in the camera mask and the SSC metrics (SC IoU, SSC
            mIoU over the whole grid), per class.
``bench``   ``benchmarks/sparseocc.py`` with the seed-0 checkpoints (trained pruning decides the
            sparse latent's size): FLOPs, latency and peak-memory ratios.
``report``  ``<work-dir>/claim_check.md`` and ``.json``: mean ± std over the seeds.

    python tools/analysis_tools/sparseocc_claim_check.py --work-dir work_dirs/sparseocc_claim_check
"""
import argparse
import json
import os.path as osp
import pickle
import subprocess
import sys
from typing import Dict

from mmdet3d_plugin.analysis import ModelSpec, TrainSpec, load_study, run_training
from mmdet3d_plugin.analysis.experiment import default_runner, robustness_command, run_directory
from mmdet3d_plugin.analysis.seed_stats import seed_stat
from mmdet3d_plugin.utils.atomic_io import write_bytes, write_json

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TOOLS)
MODELS = (ModelSpec('Dense baseline',
                    'configs/occ_baseline/occ-baseline_cam_tiny_1xb2-cpu_synthetic.py'),
          ModelSpec('SparseOcc', 'configs/sparseocc/sparseocc_cam_tiny_1xb2-cpu_synthetic.py'))
STAGES = ('world', 'train', 'eval', 'bench', 'report')
#: (metric key in the robustness study, column title)
HEADLINE = (('occ3d/mIoU', 'Occ3D mIoU'), ('occ3d/geometry_IoU', 'geometry IoU'),
            ('ssc/SSC_mIoU', 'SSC mIoU'), ('ssc/SC_IoU', 'SC IoU'))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/sparseocc_claim_check')
    parser.add_argument('--stages', nargs='+', choices=STAGES, default=list(STAGES))
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--epochs', type=int, default=None,
                        help="training epochs of every run (default: the configs' own)")
    parser.add_argument('--scenes', type=int, default=10,
                        help='world scenes (the first N of nuScenes-mini; 10 = 8 train + 2 val)')
    parser.add_argument('--keyframes', type=int, default=10, help='keyframes per scene')
    parser.add_argument('--corruptions', nargs='*', default=['missing_camera'],
                        help='camera corruptions evaluated beside clean')
    parser.add_argument('--bench-repeats', type=int, default=5)
    return parser.parse_args(argv)


class SparseOccClaimCheck:
    """The stages over one work directory (every tool runs with it as working directory)."""

    def __init__(self, args) -> None:
        self.args = args
        self.work_dir = osp.abspath(args.work_dir)
        self.run = default_runner(self.work_dir)
        self.models = [ModelSpec(m.name, osp.join(REPO, m.config), m.options) for m in MODELS]

    def spec(self, model: ModelSpec, seed: int) -> TrainSpec:
        return TrainSpec(model, seed, None, self.args.epochs)

    def checkpoint(self, spec: TrainSpec) -> str:
        return run_training(spec, osp.join(run_directory(self.work_dir, spec), 'train'), TOOLS,
                            self.run)

    def study_dir(self, spec: TrainSpec) -> str:
        return osp.join(run_directory(self.work_dir, spec), 'robustness')

    def stage_world(self) -> None:
        root = osp.join(self.work_dir, 'data', 'synthetic')
        val_info = osp.join(root, 'occ3d', 'occ3d_infos_val.pkl')
        if not osp.isfile(val_info):
            tool = osp.join(TOOLS, 'create_data.py')
            self.run([sys.executable, tool, 'synthetic', '--out', root, '--scenes',
                      str(self.args.scenes), '--keyframes', str(self.args.keyframes),
                      '--test-scenes', '0', '--formats', 'nuscenes', 'occ3d', '--overwrite'])
            self.run([sys.executable, tool, 'occ3d', '--root-path', osp.join(root, 'nuscenes'),
                      '--occ3d-path', osp.join(root, 'occ3d')])
        with open(val_info, 'rb') as f:
            frames = len(pickle.load(f)['data_list'])
        print(f'[sparseocc claim check] world: {frames} validation frames', flush=True)

    def stage_train(self) -> None:
        for model in self.models:
            for seed in self.args.seeds:
                self.checkpoint(self.spec(model, seed))

    def stage_eval(self) -> None:
        for model in self.models:
            for seed in self.args.seeds:
                spec = self.spec(model, seed)
                self.run(robustness_command(model, self.checkpoint(spec), self.study_dir(spec),
                                            TOOLS, self.args.corruptions))

    def bench_path(self) -> str:
        return osp.join(self.work_dir, 'benchmark.json')

    def stage_bench(self) -> None:
        dense, sparse = (self.checkpoint(self.spec(m, self.args.seeds[0])) for m in self.models)
        subprocess.run([sys.executable, osp.join(REPO, 'benchmarks', 'sparseocc.py'),
                        '--dense-checkpoint', dense, '--sparse-checkpoint', sparse,
                        '--repeats', str(self.args.bench_repeats), '--out', self.bench_path()],
                       cwd=self.work_dir, check=True)

    def results(self) -> Dict[str, Dict[int, Dict[str, Dict[str, float]]]]:
        """``{model: {seed: {setting: metrics}}}`` of the finished evaluations."""
        return {m.name: {seed: load_study(self.study_dir(self.spec(m, seed)))
                         for seed in self.args.seeds} for m in self.models}

    def stage_report(self) -> None:
        results = self.results()
        settings = ['clean'] + [c for c in self.args.corruptions]
        lines = [f'# SparseOcc claim check ({self.args.scenes} scenes x {self.args.keyframes} '
                 f'keyframes, seeds {self.args.seeds}, epochs '
                 f'{self.args.epochs or "config"})', '']
        lines += ['| setting | model | ' + ' | '.join(t for _, t in HEADLINE) + ' |',
                  '|---|---|' + '---:|' * len(HEADLINE)]
        table = {}
        for setting in settings:
            for name, per_seed in results.items():
                cells = []
                for key, _ in HEADLINE:
                    stat = seed_stat([per_seed[s].get(setting, {}).get(key) for s in per_seed])
                    table.setdefault(name, {}).setdefault(setting, {})[key] = (
                        None if stat is None else [stat.mean, stat.std, stat.count])
                    cells.append('—' if stat is None else stat.format('.2f'))
                lines.append(f'| {setting} | {name} | ' + ' | '.join(cells) + ' |')
        lines += ['', '## Per-class Occ3D IoU (clean)', '']
        classes = sorted({k for per_seed in results.values() for s in per_seed.values()
                          for k in s.get('clean', {}) if k.startswith('occ3d/IoU_')})
        lines += ['| class | ' + ' | '.join(results) + ' |', '|---|' + '---:|' * len(results)]
        for key in classes:
            cells = []
            for per_seed in results.values():
                stat = seed_stat([per_seed[s].get('clean', {}).get(key) for s in per_seed])
                cells.append('—' if stat is None else stat.format('.1f'))
            lines.append(f"| {key[len('occ3d/IoU_'):]} | " + ' | '.join(cells) + ' |')
        bench = None
        if osp.isfile(self.bench_path()):
            with open(self.bench_path()) as f:
                bench = json.load(f)
            lines += ['', '## Benchmark (benchmarks/sparseocc.py, seed-0 checkpoints)', '',
                      '```', json.dumps(bench.get('ratios', bench), indent=2), '```']
        write_bytes(osp.join(self.work_dir, 'claim_check.md'), ('\n'.join(lines) + '\n').encode())
        write_json(osp.join(self.work_dir, 'claim_check.json'),
                   dict(table=table, benchmark=bench, seeds=self.args.seeds))
        print('\n'.join(lines), flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    check = SparseOccClaimCheck(args)
    for stage in STAGES:
        if stage in args.stages:
            getattr(check, 'stage_' + stage)()
    return 0


if __name__ == '__main__':
    sys.exit(main())
