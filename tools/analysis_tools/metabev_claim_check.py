#!/usr/bin/env python
"""MetaBEV's claim check: MetaBEV vs BEVFusion vs BEVFusion trained with the same modality drop,
with camera-only and LiDAR-only models as references, over several seeds, on a synthetic world
with at least 100 validation frames.

Stages (each resumable; ``--stages`` picks some, ``--dry-run`` prints the plan):

``world``      the synthetic world (``--scenes`` x ``--keyframes``) and its infos in
               ``<work-dir>/data/synthetic`` (the synthetic configs' relative data root; every
               run works in ``<work-dir>``).
``sweep``      every model at seed 0 with each ``--lrs`` learning rate, evaluated clean; the
               learning rate with the best clean ``NDS + map mIoU / 100`` (detection-only and
               map-only models: their one score) is kept per model (picked on the validation
               split, the same rule for every model).
``seeds``      every model at its learning rate with every ``--seeds`` seed.
``eval``       MetaBEV / BEVFusion / BEVFusion+drop: clean, Missing Camera, Missing LiDAR and the
               corruption suite (``--corruptions`` / ``--severities``), zero-shot; the
               references: clean. Detection is evaluated without a score threshold.
``in-domain``  MetaBEV and BEVFusion trained with each ``--in-domain`` corruption
               (``tools/train.py --corruption``: a severity drawn per sample, redrawn every
               epoch), evaluated on that corruption beside their zero-shot scores.
``ablation``   the M²oE ablation configs (``configs/metabev/ablation/*.py``) at MetaBEV's
               learning rate, every seed, clean + missing sensors.
``converge``   MetaBEV and BEVFusion at seed 0 trained twice as long: the clean scores of the
               two schedules side by side (and the training-loss plateau of every run).
``report``     ``<work-dir>/claim_check.md`` (tables, mean ± std over seeds), ``.json`` and
               ``severity_curves.png``.

    python tools/analysis_tools/metabev_claim_check.py --work-dir work_dirs/metabev_claim_check
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

from mmdet3d_plugin.analysis import (ModelSpec, TrainSpec, load_study, run_training,
                                     robustness_command)
from mmdet3d_plugin.analysis import claim_report as tables
from mmdet3d_plugin.analysis.experiment import plateau_ratio, training_losses
from mmdet3d_plugin.analysis.severity_curves import plot_severity_curves
from mmdet3d_plugin.analysis.experiment import default_runner, run_directory
from mmdet3d_plugin.datasets.transforms.corruptions import CORRUPTION_SUITE
from mmdet3d_plugin.robustness.settings import parse_severities, select_settings

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TOOLS)
METABEV = 'configs/metabev/metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py'
FUSED = 'configs/bevfusion/bevfusion_lidar-cam_tiny_1xb2-cpu_synthetic.py'
DROP = ('model.modality_drop=(0.25,0.25)', )
#: Compared models: (name, config, cfg-options).
MAIN_MODELS = (('MetaBEV', METABEV, ()), ('BEVFusion', FUSED, ()),
               ('BEVFusion+drop', FUSED, DROP))
REFERENCE_MODELS = (
    ('Camera-only', 'configs/bevfusion/bevfusion_cam_tiny_1xb2-cpu_synthetic.py', ()),
    ('LiDAR-only', 'configs/bevfusion/bevfusion_lidar_tiny_1xb2-cpu_synthetic.py', ()))
ABLATION_GLOB = 'configs/metabev/ablation/*.py'
#: Evaluation without a score threshold (CenterHead's test_cfg and its box coder).
NO_SCORE_THRESHOLD = ('model.test_cfg.pts.score_threshold=0.0',
                      'model.bbox_head.bbox_coder.score_threshold=0.0')
STAGES = ('world', 'sweep', 'seeds', 'eval', 'in-domain', 'ablation', 'converge', 'report')
MISSING = ('missing_camera', 'missing_lidar')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/metabev_claim_check')
    parser.add_argument('--stages', nargs='+', choices=STAGES, default=list(STAGES))
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--lrs', type=float, nargs='+', default=[1.5e-3, 3e-3, 6e-3],
                        help='learning-rate sweep (seed 0)')
    parser.add_argument('--epochs', type=int, default=None,
                        help='training epochs of every run (default: the configs\' own)')
    parser.add_argument('--scenes', type=int, default=7,
                        help='world scenes (the first N of nuScenes-mini; 7 = 5 train + 2 val)')
    parser.add_argument('--keyframes', type=int, default=50, help='keyframes per scene')
    parser.add_argument('--min-val-frames', type=int, default=100)
    parser.add_argument('--corruptions', nargs='+', default=list(CORRUPTION_SUITE),
                        help='zero-shot corruptions of the main models')
    parser.add_argument('--severities', nargs='+', default=[],
                        help='as tools/robustness.py --severities')
    parser.add_argument('--in-domain', nargs='+', default=['beam_reduction', 'view_drop'],
                        help='corruptions trained in-domain')
    parser.add_argument('--dry-run', action='store_true', help='print the plan, run nothing')
    return parser.parse_args(argv)


class ClaimCheck:
    """The stages over one work directory (see the module docstring)."""

    def __init__(self, args, run=None) -> None:
        self.args = args
        self.work_dir = osp.abspath(args.work_dir)
        self.run = run or default_runner(self.work_dir)
        self.main = [ModelSpec(n, osp.join(REPO, c), o) for n, c, o in MAIN_MODELS]
        self.references = [ModelSpec(n, osp.join(REPO, c), o) for n, c, o in REFERENCE_MODELS]
        self.ablation = [ModelSpec('ablation/' + osp.basename(c)[:-3], c)
                         for c in sorted(glob.glob(osp.join(REPO, ABLATION_GLOB)))]
        self.settings = select_settings(args.corruptions, parse_severities(args.severities))
        self.planned: List[str] = []

    # -- bookkeeping -------------------------------------------------------------------------
    def run_dir(self, spec: TrainSpec) -> str:
        return run_directory(self.work_dir, spec)

    def train(self, spec: TrainSpec) -> Optional[str]:
        if self.args.dry_run:
            self.planned.append(f'train {spec.model.name} {spec.tag}')
            return None
        started = time.time()
        checkpoint = run_training(spec, osp.join(self.run_dir(spec), 'train'), TOOLS, self.run)
        print(f'[claim check] {spec.model.name} {spec.tag}: {checkpoint} '
              f'({time.time() - started:.0f} s)', flush=True)
        return checkpoint

    def evaluate(self, spec: TrainSpec, corruptions, severities=()) -> Dict[str, dict]:
        study = osp.join(self.run_dir(spec), 'robustness')
        checkpoint = self.train(spec)
        if self.args.dry_run:
            self.planned.append(f'eval  {spec.model.name} {spec.tag}: clean + '
                                f'{list(corruptions) or "-"}')
            return {}
        self.run(robustness_command(spec.model, checkpoint, study, TOOLS, corruptions,
                                    severities, NO_SCORE_THRESHOLD))
        return load_study(study)

    def severities_of(self, corruption: str) -> List[str]:
        """The ``--severities`` tokens that apply to ``corruption`` (all when none does)."""
        return [t for t in self.args.severities
                if '=' not in t or t.split('=', 1)[0] == corruption]

    def state_path(self) -> str:
        return osp.join(self.work_dir, 'chosen_lr.json')

    def chosen_lr(self, model: ModelSpec) -> float:
        """The swept learning rate of ``model`` (the middle ``--lrs`` value before the sweep)."""
        if osp.isfile(self.state_path()):
            with open(self.state_path()) as f:
                chosen = json.load(f)
            if model.name in chosen:
                return chosen[model.name]
        return sorted(self.args.lrs)[len(self.args.lrs) // 2]

    def spec(self, model: ModelSpec, seed: int = 0, lr: Optional[float] = None,
             epochs: Optional[int] = None) -> TrainSpec:
        return TrainSpec(model, seed, self.chosen_lr(model) if lr is None else lr,
                         epochs or self.args.epochs)

    # -- stages ------------------------------------------------------------------------------
    def stage_world(self) -> None:
        root = osp.join(self.work_dir, 'data', 'synthetic')
        val_info = osp.join(root, 'nuscenes', 'nuscenes_infos_val.pkl')
        if self.args.dry_run:
            self.planned.append(f'world {self.args.scenes} scenes x {self.args.keyframes} '
                                f'keyframes -> {root}')
            return
        if not osp.isfile(val_info):
            python, tool = sys.executable, osp.join(TOOLS, 'create_data.py')
            self.run([python, tool, 'synthetic', '--out', root, '--scenes',
                      str(self.args.scenes), '--keyframes', str(self.args.keyframes),
                      '--test-scenes', '0', '--formats', 'nuscenes', '--overwrite'])
            self.run([python, tool, 'nuscenes', '--root-path', osp.join(root, 'nuscenes'),
                      '--version', 'v1.0-mini', '--max-sweeps', '40'])
        import pickle
        with open(val_info, 'rb') as f:
            frames = len(pickle.load(f)['data_list'])
        if frames < self.args.min_val_frames:
            raise SystemExit(f'claim check: {val_info} has {frames} validation frames, fewer '
                             f'than --min-val-frames {self.args.min_val_frames}; raise '
                             f'--keyframes (or delete {root} after changing it)')
        print(f'[claim check] world: {frames} validation frames', flush=True)

    def stage_sweep(self) -> None:
        scores = {}
        for model in self.main + self.references:
            for lr in self.args.lrs:
                metrics = self.evaluate(self.spec(model, 0, lr), ()).get('clean', {})
                scores.setdefault(model.name, {})[lr] = clean_score(metrics)
        if self.args.dry_run:
            return
        chosen = {name: max(per_lr, key=lambda lr: per_lr[lr]) for name, per_lr in scores.items()}
        from mmdet3d_plugin.utils.atomic_io import write_json
        write_json(self.state_path(), chosen)
        write_json(osp.join(self.work_dir, 'sweep.json'),
                   {name: {repr(lr): s for lr, s in per_lr.items()}
                    for name, per_lr in scores.items()})

    def stage_seeds(self) -> None:
        for model in self.main + self.references:
            for seed in self.args.seeds:
                self.train(self.spec(model, seed))

    def stage_eval(self) -> None:
        for model in self.main:
            for seed in self.args.seeds:
                self.evaluate(self.spec(model, seed), self.args.corruptions, self.args.severities)
        for model in self.references:
            for seed in self.args.seeds:
                self.evaluate(self.spec(model, seed), ())

    def stage_in_domain(self) -> None:
        for corruption in self.args.in_domain:
            for model in self.main[:2]:
                for seed in self.args.seeds:
                    spec = TrainSpec(model, seed, self.chosen_lr(model), self.args.epochs,
                                     corruption)
                    self.evaluate(spec, [corruption], self.severities_of(corruption))

    def stage_ablation(self) -> None:
        lr = self.chosen_lr(self.main[0])
        for model in self.ablation:
            for seed in self.args.seeds:
                self.evaluate(self.spec(model, seed, lr), MISSING)

    def stage_converge(self) -> None:
        for model in self.main[:2]:
            base = self.spec(model, 0)
            epochs = base.epochs or config_epochs(model.config)
            self.evaluate(self.spec(model, 0, epochs=2 * epochs), ())

    def collect(self, models, corruption: Optional[str] = None) -> Dict[str, dict]:
        """``{model: {seed: {setting: metrics}}}`` of the finished evaluations."""
        results = {}
        for model in models:
            for seed in self.args.seeds:
                spec = self.spec(model, seed)
                if corruption:
                    spec = TrainSpec(model, seed, spec.lr, spec.epochs, corruption)
                study = load_study(osp.join(self.run_dir(spec), 'robustness'))
                if study:
                    results.setdefault(model.name, {})[seed] = study
        return results

    def stage_report(self) -> None:
        if self.args.dry_run:
            return
        names = [s.name for s in self.settings]
        main = self.collect(self.main + self.references)
        lines = ['# MetaBEV claim check', '',
                 f'World: {self.args.scenes} scenes x {self.args.keyframes} keyframes; seeds '
                 f'{self.args.seeds}; epochs {self.args.epochs or "(config)"}; detection '
                 'evaluated without a score threshold. Cells: mean ± std over seeds; '
                 '"/ clean": each seed against its own clean score.', '',
                 '## Clean and missing sensors', '']
        lines += tables.settings_table(main, ['clean', *MISSING])
        lines += ['', '## Corruption suite (zero-shot)', '']
        lines += tables.settings_table({m.name: main[m.name] for m in self.main
                                        if m.name in main}, names)
        for corruption in self.args.in_domain:
            trained = self.collect(self.main[:2], corruption)
            if trained:
                lines += ['', f'## In-domain: trained with {corruption}', '']
                lines += tables.in_domain_table(
                    main, trained, [n for n in names if n.split('-')[0] == corruption])
        ablation = self.collect(self.ablation)
        if ablation:
            lines += ['', '## M²oE ablation', '']
            lines += tables.settings_table(ablation, ['clean', *MISSING])
        for kind in ('AP', 'IoU'):
            rows = tables.per_class_table(main, kind)
            if rows:
                lines += ['', f'## Per class, clean ({kind})', ''] + rows
        lines += ['', '## Learning-rate sweep (seed 0, clean NDS + map mIoU / 100)', '']
        sweep_path = osp.join(self.work_dir, 'sweep.json')
        if osp.isfile(sweep_path):
            with open(sweep_path) as f:
                sweep = json.load(f)
            lrs = sorted({lr for per in sweep.values() for lr in per}, key=float)
            lines += tables.value_table(['model'] + [f'lr {lr}' for lr in lrs] + ['chosen'], [
                [name] + [per.get(lr) for lr in lrs] + [self.chosen_lr(
                    next(m for m in self.main + self.references if m.name == name))]
                for name, per in sweep.items()])
        lines += ['', '## Convergence', '']
        rows = []
        for model in self.main + self.references:
            spec = self.spec(model, 0)
            plateau = plateau_ratio(training_losses(osp.join(self.run_dir(spec), 'train')))
            long_spec = self.spec(model, 0, epochs=2 * (spec.epochs or
                                                        config_epochs(model.config)))
            one = load_study(osp.join(self.run_dir(spec), 'robustness')).get('clean', {})
            two = load_study(osp.join(self.run_dir(long_spec), 'robustness')).get('clean', {})
            rows.append([model.name, plateau, clean_score(one) if one else None,
                         clean_score(two) if two else None])
        lines += tables.value_table(['model (seed 0)', 'loss last 10 % / previous 10 %',
                                     'clean score', 'clean score, 2x epochs'], rows)
        paths = {'md': osp.join(self.work_dir, 'claim_check.md'),
                 'json': osp.join(self.work_dir, 'claim_check.json'),
                 'png': osp.join(self.work_dir, 'severity_curves.png')}
        from mmdet3d_plugin.utils.atomic_io import write_bytes, write_json
        write_bytes(paths['md'], ('\n'.join(lines) + '\n').encode())
        write_json(paths['json'], {'main': main, 'ablation': ablation})
        zero_shot = {m.name: main[m.name] for m in self.main if m.name in main}
        if zero_shot:
            plot_severity_curves(zero_shot, [s for s in self.settings if not s.is_clean],
                                 tables.metric_keys(zero_shot), paths['png'])
        print('\n'.join(lines))
        print('\n'.join(f'written: {p}' for p in paths.values()))


def clean_score(metrics: Dict[str, float]) -> float:
    """``NDS + map mIoU / 100`` of a clean evaluation (missing parts count 0)."""
    from mmdet3d_plugin.robustness.comparison import pick_metric
    nds = pick_metric(metrics, 'NDS') or 0.0
    miou = pick_metric(metrics, 'map mIoU') or 0.0
    return nds + miou / 100


def config_epochs(config: str) -> int:
    from mmengine.config import Config
    return int(Config.fromfile(config).train_cfg.max_epochs)


def main(argv=None) -> int:
    args = parse_args(argv)
    check = ClaimCheck(args)
    os.makedirs(check.work_dir, exist_ok=True)
    for stage in STAGES:
        if stage in args.stages:
            print(f'\n=== claim check: {stage}', flush=True)
            getattr(check, 'stage_' + stage.replace('-', '_'))()
    if args.dry_run:
        trainings = sorted({p for p in check.planned if p.startswith('train')})
        print('\n'.join(check.planned))
        print(f'{len(trainings)} training runs, '
              f'{sum(p.startswith("eval") for p in check.planned)} evaluations planned')
    return 0


if __name__ == '__main__':
    sys.exit(main())
