#!/usr/bin/env python
"""Dataset preparation.

    python tools/create_data.py synthetic --out data/synthetic [--scenes 10] [--keyframes 10] \
        [--test-scenes 2] [--formats nuscenes occ3d kitti] [--workers N] [--overwrite]
    python tools/create_data.py nuscenes --root-path data/synthetic/nuscenes --version v1.0-mini \
        [--max-sweeps 40] [--no-gt-database] [--gt-database-sweeps 10]
    python tools/create_data.py nuscenes --root-path data/synthetic/nuscenes --version v1.0-test
    python tools/create_data.py kitti --root-path data/synthetic/kitti [--out-dir DIR]
    python tools/create_data.py occ3d --root-path data/synthetic/nuscenes \
        --occ3d-path data/synthetic/occ3d [--occ-path data/synthetic/nuscenes-occupancy]
    python tools/create_data.py nuscenes-occupancy --root-path data/synthetic/nuscenes \
        --occ-path data/synthetic/nuscenes-occupancy

``synthetic`` writes the seeded synthetic driving world in the real layouts, by default
``<out>/nuscenes`` (v1.0-mini tables, samples/, sweeps/, lidarseg/, maps/, read by the nuScenes
devkit and mmdet3d exactly as the real dataset), ``<out>/occ3d`` (Occ3D-nuScenes gts/) and
``<out>/kitti`` (KITTI training/ and ImageSets/); ``--formats ... nuscenes-occupancy`` adds
OpenOccupancy's sparse grids (~40 MB per keyframe, ~4 GB for the default world, so not by
default). ``--test-scenes N`` (default 2) adds an annotation-free test split named after the
first N scenes of nuScenes' test split: ``<out>/nuscenes/v1.0-test`` tables (no annotations,
no lidarseg) sharing samples/, sweeps/ and maps/, as nuScenes ships ``v1.0-test``.
Scenes are written by ``--workers`` processes (default: the CPU cores) with the same bytes for
any count; a tqdm bar on stderr counts keyframes, and a summary lists each format's
folder, files and size. The output folder appears atomically when complete. Measured on the
2-core machine while three other agents' jobs shared it (load average 4.7-6.4): the default
world (10 scenes x 10 keyframes, nuscenes + occ3d + kitti, 610 MB) in 57.6 s wall (median of 3,
52.5-61.1 s; 34 s CPU), nuscenes alone in 15.9 s, all four formats in 63-88 s (4.7 GB).

``nuscenes`` writes mmdet3d v2 info files (``<extra-tag>_infos_{train,val}.pkl``;
``_infos_test.pkl`` without instances for ``--version v1.0-test``) for real or synthetic
nuScenes, with the extra fields occupancy/temporal models need (see
``mmdet3d_plugin.datasets.converters.nuscenes_infos``), then, as mmdet3d's own
``create_data.py nuscenes`` does, the GT-paste database of the training split
(``<extra-tag>_dbinfos_train.pkl`` + ``<extra-tag>_gt_database/``, read by ``ObjectSample``;
``mmdet3d_plugin.datasets.converters.gt_database``; not for ``v1.0-test``, skipped with
``--no-gt-database``). ``kitti`` runs mmdet3d's own KITTI
converter (shipped in the mmdet3d wheel) to ``kitti_infos_{train,val,trainval,test}.pkl`` (v2,
with num_lidar_pts and difficulty) and ``training/velodyne_reduced``. ``occ3d`` /
``nuscenes-occupancy`` write the nuScenes infos (prefix ``occ3d`` / ``nuscenes_occupancy``, into
the occupancy root by default) after checking that every sample's ``occ3d_path`` / ``occ_path``
exists, with the roots in ``metainfo`` (``occ3d_root`` / ``occ_root``) for ``LoadOcc3DGT`` /
``LoadNuScenesOccupancyGT``. Every info file is written atomically.
"""
import argparse
import time

from mmdet3d_plugin.synthetic import (MINI_SCENES, LidarSpec, WorldConfig,
                                      nuscenes_test_scene_names)
from mmdet3d_plugin.synthetic.generate import (DEFAULT_FORMATS, FORMATS, default_workers,
                                               describe_output, generate_synthetic)


def add_synthetic_parser(subparsers) -> None:
    p = subparsers.add_parser('synthetic', help='generate the synthetic world')
    p.add_argument('--out', default='data/synthetic', help='output folder')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--scenes', type=int, default=len(MINI_SCENES),
                   help=f'number of scenes (at most {len(MINI_SCENES)}: named after nuScenes-mini)')
    p.add_argument('--keyframes', type=int, default=10, help='2 Hz keyframes per scene')
    p.add_argument('--test-scenes', type=int, default=2,
                   help='scenes of the annotation-free nuscenes/v1.0-test split, named after '
                   "nuScenes' test scenes (0: none; needs the nuscenes format)")
    p.add_argument('--image-size', type=int, nargs=2, default=[400, 225], metavar=('W', 'H'))
    p.add_argument('--azimuth-steps', type=int, default=720, help='LiDAR rays per beam per turn')
    p.add_argument('--formats', nargs='+', default=list(DEFAULT_FORMATS), choices=FORMATS,
                   help=f'default: {" ".join(DEFAULT_FORMATS)}; nuscenes-occupancy adds ~40 MB '
                   'and ~0.4 s of CPU per keyframe')
    p.add_argument('--workers', type=int, default=None,
                   help='processes writing scenes in parallel (default: the CPU cores); the '
                   'output is the same for any number')
    p.add_argument('--overwrite', action='store_true', help='replace an existing --out')


def add_nuscenes_parser(subparsers) -> None:
    p = subparsers.add_parser('nuscenes', help='create mmdet3d v2 info files for nuScenes')
    p.add_argument('--root-path', default='data/nuscenes', help='nuScenes dataroot')
    p.add_argument('--version', default='v1.0-trainval',
                   choices=['v1.0-mini', 'v1.0-trainval', 'v1.0-test'])
    p.add_argument('--out-dir', default=None, help='where the .pkl go (default: --root-path)')
    p.add_argument('--extra-tag', default='nuscenes', help='info file name prefix')
    p.add_argument('--max-sweeps', type=int, default=10, help='LiDAR sweeps per sample (<= 40)')
    p.add_argument('--no-gt-database', action='store_true',
                   help='skip the GT-paste database (<extra-tag>_dbinfos_train.pkl and '
                   '<extra-tag>_gt_database/ in --out-dir), built by default as mmdet3d does')
    p.add_argument('--gt-database-sweeps', type=int, default=10,
                   help='LiDAR sweeps merged into each database object (<= --max-sweeps)')


def add_kitti_parser(subparsers) -> None:
    p = subparsers.add_parser('kitti', help="mmdet3d v2 KITTI infos (mmdet3d's own converter)")
    p.add_argument('--root-path', default='data/kitti', help='KITTI root (training/, ImageSets/)')
    p.add_argument('--out-dir', default=None, help='where the .pkl go (default: --root-path)')
    p.add_argument('--extra-tag', default='kitti', help='info file name prefix')
    p.add_argument('--no-reduced', action='store_true',
                   help='skip training/velodyne_reduced (read by mmdet3d\'s KITTI configs)')


def add_occupancy_parser(subparsers, name: str, default_tag: str) -> None:
    p = subparsers.add_parser(name, help=f'nuScenes v2 infos checked against {name} ground '
                              'truth (occ3d_path / occ_path in every entry)')
    p.add_argument('--root-path', default='data/nuscenes', help='nuScenes dataroot')
    p.add_argument('--version', default='v1.0-mini',
                   choices=['v1.0-mini', 'v1.0-trainval', 'v1.0-test'])
    p.add_argument('--occ3d-path', default='data/occ3d' if name == 'occ3d' else None,
                   help='Occ3D-nuScenes root holding gts/')
    p.add_argument('--occ-path', default='data/nuScenes-Occupancy' if name != 'occ3d' else None,
                   help='nuScenes-Occupancy root holding scene_<token>/occupancy/')
    p.add_argument('--out-dir', default=None,
                   help=f'where the .pkl go (default: the {name} root)')
    p.add_argument('--extra-tag', default=default_tag, help='info file name prefix')
    p.add_argument('--max-sweeps', type=int, default=10, help='LiDAR sweeps per sample (<= 40)')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest='command', required=True)
    add_synthetic_parser(subparsers)
    add_nuscenes_parser(subparsers)
    add_kitti_parser(subparsers)
    add_occupancy_parser(subparsers, 'occ3d', 'occ3d')
    add_occupancy_parser(subparsers, 'nuscenes-occupancy', 'nuscenes_occupancy')
    args = parser.parse_args(argv)
    if args.command == 'kitti':
        from mmdet3d_plugin.datasets.converters import create_kitti_infos
        written = create_kitti_infos(args.root_path, args.out_dir, args.extra_tag,
                                     with_reduced=not args.no_reduced)
        for split, path in written.items():
            print(f'{split}: {path}')
    if args.command in ('occ3d', 'nuscenes-occupancy'):
        from mmdet3d_plugin.datasets.converters import create_occupancy_infos
        written = create_occupancy_infos(args.root_path, args.out_dir, args.version,
                                         args.extra_tag, args.max_sweeps, args.occ3d_path,
                                         args.occ_path)
        for split, path in written.items():
            print(f'{split}: {path}')
    if args.command == 'nuscenes':
        from mmdet3d_plugin.datasets.converters import create_nuscenes_infos
        if not 0 <= args.gt_database_sweeps <= args.max_sweeps:
            parser.error(f'--gt-database-sweeps must be in [0, --max-sweeps '
                         f'{args.max_sweeps}], got {args.gt_database_sweeps}')
        out_dir = args.out_dir or args.root_path
        written = create_nuscenes_infos(args.root_path, out_dir, args.version, args.extra_tag,
                                        args.max_sweeps)
        for split, path in written.items():
            print(f'{split}: {path}')
        if 'train' in written and not args.no_gt_database:
            from mmdet3d_plugin.datasets.converters import create_groundtruth_database
            database = create_groundtruth_database(
                args.root_path, written['train'], args.extra_tag, args.gt_database_sweeps,
                out_dir=out_dir)
            print(f"gt database: {database['dbinfos']} ({database['database']})")
    if args.command == 'synthetic':
        if not 1 <= args.scenes <= len(MINI_SCENES):
            parser.error(f'--scenes must be in [1, {len(MINI_SCENES)}], got {args.scenes}')
        if args.test_scenes < 0:
            parser.error(f'--test-scenes must be >= 0, got {args.test_scenes}')
        if args.test_scenes and 'nuscenes' not in args.formats:
            args.test_scenes = 0  # only the nuScenes format has a test split
        config = WorldConfig(seed=args.seed, scene_names=MINI_SCENES[:args.scenes],
                             num_keyframes=args.keyframes, image_size=tuple(args.image_size),
                             lidar=LidarSpec(azimuth_steps=args.azimuth_steps),
                             test_scene_names=nuscenes_test_scene_names(args.test_scenes))
        if args.workers is not None and args.workers < 1:
            parser.error(f'--workers must be >= 1, got {args.workers}')
        workers = args.workers or default_workers()
        start = time.time()
        out = generate_synthetic(args.out, config, tuple(args.formats), overwrite=args.overwrite,
                                 workers=workers)
        test = f' + {args.test_scenes} test scenes' if args.test_scenes else ''
        print(f'synthetic world ({args.scenes} scenes{test} x {args.keyframes} keyframes) '
              f'written to {out} in {time.time() - start:.1f} s with {workers} worker(s):')
        for line in describe_output(out, args.formats):
            print(f'  {line}')


if __name__ == '__main__':
    main()
