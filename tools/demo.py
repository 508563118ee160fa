#!/usr/bin/env python
"""`make demo`: check the environment, then build the synthetic dataset and show it.

Steps (each skipped when its output already exists): environment check (exit 1 if a
component is broken) -> synthetic world in the nuScenes + Occ3D layouts -> mmdet3d v2 infos ->
pictures of one sample. Prints where everything was written.
"""
import argparse
import os
import sys
import time

from mmdet3d_plugin.utils.collect_env import main as collect_env_main


def step(title: str) -> float:
    print(f'\n=== {title}', flush=True)
    return time.time()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', default='data/synthetic', help='synthetic dataset folder')
    parser.add_argument('--work-dir', default='work_dirs/demo', help='pictures go here')
    args = parser.parse_args(argv)

    start = step('1/4 environment')
    if collect_env_main([]) != 0:
        print('demo: a component is broken (see FAIL above); fix it and run `make demo` again')
        return 1

    from mmdet3d_plugin.datasets.converters import create_nuscenes_infos
    from mmdet3d_plugin.synthetic.generate import generate_synthetic
    from mmdet3d_plugin.visualization.dataset_views import browse_sample

    nus_root = os.path.join(args.data, 'nuscenes')
    t = step(f'2/4 synthetic world -> {args.data}')
    if os.path.isdir(nus_root) and os.path.isdir(os.path.join(args.data, 'occ3d')):
        print('exists, kept (delete it to regenerate)')
    else:
        generate_synthetic(args.data, formats=('nuscenes', 'occ3d'),
                           overwrite=os.path.exists(args.data))
        print(f'generated in {time.time() - t:.1f} s')

    t = step('3/4 mmdet3d infos (v1.0-mini, 40 sweeps)')
    infos = create_nuscenes_infos(nus_root, nus_root, 'v1.0-mini', max_sweeps=40)
    print(f'{", ".join(infos.values())} in {time.time() - t:.1f} s')

    step(f'4/4 pictures -> {args.work_dir}')
    written = browse_sample(nus_root, 'v1.0-mini', args.work_dir, sample_index=0,
                            occ3d_root=os.path.join(args.data, 'occ3d'))
    print('\nDrive3D demo finished in {:.1f} s'.format(time.time() - start))
    print(f'  dataset (nuScenes layout): {os.path.abspath(nus_root)}')
    print(f'  Occ3D ground truth:       {os.path.abspath(os.path.join(args.data, "occ3d"))}')
    for name, path in written.items():
        print(f'  {name:<25} {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
