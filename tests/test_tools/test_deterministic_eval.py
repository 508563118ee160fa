"""Evaluation is deterministic: two evaluations of one checkpoint (the MetaBEV tiny synthetic
config, random weights) with different global seeds, as two ``tools/test.py`` runs get, give
identical metrics; the test items are the same under any seed because the test pipeline takes
the nearest sweeps (``test_mode=True``) of infos that hold more than ``sweeps_num``."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs/metabev/metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py'
#: Sweeps in the test's info files: more than the config's 9 (and its draw pool of 10).
MAX_SWEEPS = 40


@pytest.fixture(scope='module')
def world(request, tmp_path_factory):
    """(nuScenes root, val info file with MAX_SWEEPS sweeps per sample): the shared session
    world when tests/conftest.py provides one (its files are only read), else a tiny one."""
    from mmdet3d_plugin.datasets.converters import create_nuscenes_infos
    out = tmp_path_factory.mktemp('deterministic_eval')
    try:
        root = request.getfixturevalue('synthetic_world').nuscenes
    except pytest.FixtureLookupError:
        from mmdet3d_plugin.synthetic import WorldConfig
        from mmdet3d_plugin.synthetic.generate import generate_synthetic
        generate_synthetic(str(out / 'synthetic'), WorldConfig(
            scene_names=('scene-0061', 'scene-0103'), num_keyframes=2), formats=('nuscenes', ),
            progress=False, workers=1)
        root = out / 'synthetic' / 'nuscenes'
    infos = create_nuscenes_infos(str(root), str(out), 'v1.0-mini', max_sweeps=MAX_SWEEPS,
                                  progress=False)
    return root, infos['val']


def eval_config(root: Path, val_infos: str, work_dir: Path) -> Config:
    """The config's test set-up pointed at ``root`` / ``val_infos``, in-process friendly."""
    cfg = Config.fromfile(str(CONFIG))
    data_root = str(root) + '/'
    loader = cfg.test_dataloader
    loader.update(num_workers=0, persistent_workers=False)
    loader.dataset.update(data_root=data_root, ann_file=str(val_infos))
    for step in loader.dataset.pipeline:
        if step['type'] == 'LoadBEVMapGT':
            step['data_root'] = data_root
    for metric in cfg.test_evaluator:
        if metric['type'] == 'NuScenesMetric':
            metric.update(data_root=data_root, ann_file=str(val_infos))
    cfg.work_dir = str(work_dir)
    # one process runs several Runners: no TensorBoard files, no shared visualizer instance
    cfg.visualizer = dict(type='Det3DLocalVisualizer', name=f'vis_{work_dir.name}',
                          vis_backends=[dict(type='LocalVisBackend')])
    cfg.experiment_name = work_dir.name
    return cfg


def build_dataset(cfg: Config):
    from mmdet3d.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmdet3d_plugin'):
        return DATASETS.build(cfg.test_dataloader.dataset)


def test_test_items_do_not_depend_on_the_global_seed(world, tmp_path):
    cfg = eval_config(*world, tmp_path / 'items')
    sweeps = [t for t in cfg.test_dataloader.dataset.pipeline if t['type'] == 'LoadSweepsWithRing']
    assert len(sweeps) == 1 and sweeps[0]['test_mode'] is True

    def points(test_mode: bool, seed: int) -> torch.Tensor:
        sweeps[0]['test_mode'] = test_mode
        dataset = build_dataset(cfg)
        assert len(dataset.get_data_info(0)['lidar_sweeps']) > sweeps[0]['sweeps_num']
        np.random.seed(seed)
        return dataset[0]['inputs']['points']

    torch.testing.assert_close(points(True, 0), points(True, 1), rtol=0, atol=0)
    # without test_mode the loader draws a random subset (9 of the nearest 10, so two seeds can
    # draw the same one): the check above can fail
    first = points(False, 0)
    assert any(not torch.equal(first, points(False, seed)) for seed in (1, 2, 3))


@pytest.mark.slow
def test_two_evaluations_of_one_checkpoint_give_identical_metrics(world, tmp_path):
    from mmengine.runner import Runner, save_checkpoint

    from mmdet3d_plugin.registry import MODELS
    cfg = eval_config(*world, tmp_path / 'build')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet3d_plugin'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    checkpoint = tmp_path / 'random_init.pth'
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {}}, str(checkpoint))

    metrics = []
    for seed in (0, 1):  # tools/test.py runs draw different seeds
        cfg = eval_config(*world, tmp_path / f'eval_{seed}')
        cfg.load_from = str(checkpoint)
        cfg.randomness = dict(seed=seed)
        runner = Runner.from_cfg(cfg)
        metrics.append(runner.test())
    assert any(key.endswith('NDS') for key in metrics[0])
    assert any('iou' in key for key in metrics[0])
    assert same_metrics(*metrics)


def same_metrics(first: dict, second: dict) -> bool:
    """Equal keys and values (NaN, e.g. an error of a class never detected, equals NaN)."""
    return first.keys() == second.keys() and all(
        first[k] == second[k] or (np.isnan(first[k]) and np.isnan(second[k])) for k in first)
