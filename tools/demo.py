#!/usr/bin/env python
"""`make demo`: Drive3D's main job on the embedded synthetic world, end to end.

Steps (each skipped when its output already exists, so a second run is quick):

1. environment check (exit 1 with a fix if a component is broken);
2. the synthetic world in the nuScenes + Occ3D layouts;
3. mmdet3d v2 info files;
4. pictures of one sample (cameras with GT boxes, BEV with map masks, occupancy);
5. train MetaBEV (camera + LiDAR -> 3D detection + BEV map segmentation) on CPU, seeded
   (``--seed``, default 0), so the printed figures reproduce run to run, for ``--epochs``
   (default 11: the config's 12-epoch cosine schedule compressed by ``tools/train.py
   --max-epochs`` so that the whole demo stays within 15 minutes on 2 cores);
6. evaluate it with the nuScenes devkit and the map IoU, clean and under a short sensor-failure
   study (Missing LiDAR, Missing Camera, one severity of every corruption);
7. pictures of its predictions (cameras with predicted boxes, BEV with predicted boxes and maps).

Prints a short summary and where everything was written.
"""
import argparse
import os.path as osp
import subprocess
import sys
import time

from mmdet3d_plugin.engine.checkpoints import last_checkpoint
from mmdet3d_plugin.utils.collect_env import main as collect_env_main

TOOLS = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(TOOLS)
DEMO_CONFIG = osp.join(REPO, 'configs/metabev/metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py')
STEPS = 7
#: ``train_cfg.val_begin`` past any schedule: mmengine's loop then never validates.
NO_VALIDATION = 10**6
#: Training epochs of the demo (the config's schedule compressed to this length).
DEMO_EPOCHS = 11


def step(index: int, title: str) -> float:
    print(f'\n=== {index}/{STEPS} {title}', flush=True)
    return time.time()


def train(config: str, work_dir: str, seed: int, epochs: int) -> str:
    """Train (unless a finished run is in ``work_dir``) for ``epochs`` epochs with
    ``randomness.seed=seed`` and return the final checkpoint."""
    checkpoint = last_checkpoint(work_dir)
    if checkpoint:
        print(f'trained model found, kept: {checkpoint} (delete {work_dir} to retrain)')
        return checkpoint
    # no validation inside training: step 6 evaluates the checkpoint clean and corrupted anyway
    command = [sys.executable, osp.join(TOOLS, 'train.py'), config, '--work-dir', work_dir,
               '--max-epochs', str(epochs), '--cfg-options', f'randomness.seed={seed}',
               f'train_cfg.val_begin={NO_VALIDATION}']
    subprocess.run(command, check=True)
    checkpoint = last_checkpoint(work_dir)
    if checkpoint is None:
        raise RuntimeError(f'training {config} left no checkpoint in {work_dir}')
    return checkpoint


def short_summary(records: list) -> list:
    """``setting: NDS / mAP / map mIoU`` lines of the robustness records."""
    from mmdet3d_plugin.robustness.comparison import pick_metric
    lines = []
    for record in records:
        if record['status'] != 'ok':
            lines.append(f"  {record['setting']:<26} {record['status']}")
            continue
        values = [pick_metric(record['metrics'], kind) for kind in ('NDS', 'mAP', 'map mIoU')]
        text = ' / '.join('n/a' if v is None else f'{v:.3f}' for v in values)
        lines.append(f"  {record['setting']:<26} {text}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo', help='outputs go here')
    parser.add_argument('--config', default=DEMO_CONFIG, help='the model the demo trains')
    parser.add_argument('--seed', type=int, default=0,
                        help='training seed (the printed figures reproduce run to run)')
    parser.add_argument('--epochs', type=int, default=DEMO_EPOCHS,
                        help="training epochs (the config's schedule compressed or stretched "
                        'to this length)')
    args = parser.parse_args(argv)

    start = step(1, 'environment')
    if collect_env_main([]) != 0:
        print('demo: a component is broken (see FAIL above); fix it and run `make demo` again')
        return 1

    from mmdet3d_plugin.datasets.converters import create_nuscenes_infos
    from mmdet3d_plugin.robustness import run_robustness
    from mmdet3d_plugin.synthetic.generate import generate_synthetic
    from mmdet3d_plugin.visualization.dataset_views import browse_sample
    from mmdet3d_plugin.visualization.prediction_views import render_predictions

    # the synthetic configs read data/synthetic/nuscenes relative to the working directory
    data_dir = 'data/synthetic'
    nus_root = osp.join(data_dir, 'nuscenes')
    t = step(2, f'synthetic world -> {data_dir}')
    if osp.isdir(nus_root) and osp.isdir(osp.join(data_dir, 'occ3d')):
        print('exists, kept (delete it to regenerate)')
    else:
        generate_synthetic(data_dir, formats=('nuscenes', 'occ3d'),
                           overwrite=osp.exists(data_dir))
        print(f'generated in {time.time() - t:.1f} s')

    t = step(3, 'mmdet3d infos (v1.0-mini, 40 sweeps)')
    infos = create_nuscenes_infos(nus_root, nus_root, 'v1.0-mini', max_sweeps=40)
    print(f'{", ".join(infos.values())} in {time.time() - t:.1f} s')

    pictures_dir = osp.join(args.work_dir, 'dataset')
    step(4, f'pictures of the data -> {pictures_dir}')
    written = browse_sample(nus_root, 'v1.0-mini', pictures_dir, sample_index=0,
                            occ3d_root=osp.join(data_dir, 'occ3d'))

    model_dir = osp.join(args.work_dir, 'metabev')
    t = step(5, f'train {osp.basename(args.config)} ({args.epochs} epochs, seed {args.seed}) '
             f'-> {model_dir}')
    checkpoint = train(args.config, model_dir, args.seed, args.epochs)
    print(f'training step done in {time.time() - t:.1f} s')

    study_dir = osp.join(args.work_dir, 'robustness')
    t = step(6, f'evaluate: clean and a short sensor-failure study -> {study_dir}')
    records, report = run_robustness(args.config, checkpoint, work_dir=study_dir, quick=True)
    print(f'evaluated in {time.time() - t:.1f} s')

    prediction_dir = osp.join(args.work_dir, 'predictions')
    step(7, f'pictures of the predictions -> {prediction_dir}')
    predicted = render_predictions(args.config, checkpoint, prediction_dir, sample_index=0)

    print(f'\nDrive3D demo finished in {time.time() - start:.1f} s')
    print('MetaBEV on the synthetic val split (NDS / mAP / map mIoU %):')
    print('\n'.join(short_summary(records)))
    print(f'  dataset (nuScenes layout): {osp.abspath(nus_root)}')
    print(f'  checkpoint:                {osp.abspath(checkpoint)}')
    for name, path in list(written.items()) + list(predicted.items()):
        print(f'  {name:<26} {osp.abspath(path)}')
    for ext, path in report.items():
        print(f'  robustness table ({ext}):    {osp.abspath(path)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
