"""BEVFusion's LiDAR recipe on the shared synthetic world: the GT database
(``create_groundtruth_database``) in the format mmdet3d's ``DataBaseSampler`` reads, and the
real-nuScenes training pipeline of the LiDAR-only paper config (GT-paste through
``ObjectSample``, CBGS through ``CBGSDataset``, the GT-paste switch-off hook) run on it."""
import os
import os.path as osp
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmdet3d.structures.ops import box_np_ops
from mmengine.config import Config
from mmengine.logging import MMLogger

from mmdet3d_plugin.registry import DATASETS, HOOKS, TRANSFORMS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# the shared world (first use), numba compiling mmdet3d's box ops (~20 s) and the database
pytestmark = pytest.mark.slow
LIDAR_CONFIG = osp.join(
    REPO, 'configs/bevfusion/bevfusion_lidar_voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d-map.py')
DB_KEYS = {'name', 'path', 'image_idx', 'gt_idx', 'box3d_lidar', 'num_points_in_gt',
           'difficulty', 'group_id'}


@pytest.fixture(scope='module')
def database(synthetic_world, tmp_path_factory):
    """The GT database of the shared world's train split, written outside the world, from
    paths relative to the working directory (as ``tools/create_data.py nuscenes --root-path
    data/nuscenes`` passes them)."""
    from mmdet3d_plugin.datasets.converters import create_groundtruth_database
    out = tmp_path_factory.mktemp('gt_database')
    cwd = os.getcwd()
    os.chdir(synthetic_world.nuscenes.parent)
    try:
        paths = create_groundtruth_database(
            synthetic_world.nuscenes.name,
            os.path.relpath(str(synthetic_world.infos['nuscenes']['train'])),
            out_dir=str(out), progress=False)
    finally:
        os.chdir(cwd)
    return SimpleNamespace(root=str(out), **paths)


def test_database_holds_every_object_with_points_in_box_local_coordinates(database,
                                                                          synthetic_world):
    with open(database.dbinfos, 'rb') as f:
        dbinfos = pickle.load(f)
    with open(synthetic_world.infos['nuscenes']['train'], 'rb') as f:
        infos = pickle.load(f)['data_list']
    instances = [i for info in infos for i in info['instances'] if i['bbox_label'] >= 0]
    total = sum(len(v) for v in dbinfos.values())
    assert 0 < total <= len(instances)
    assert len(dbinfos) >= 5  # several classes
    group_ids = [d['group_id'] for v in dbinfos.values() for d in v]
    assert len(set(group_ids)) == total
    for name, objects in dbinfos.items():
        for obj in objects:
            assert DB_KEYS <= set(obj) and obj['name'] == name
            assert obj['path'].startswith('nuscenes_gt_database/')
            box = obj['box3d_lidar']
            assert box.shape == (9, ) and box.dtype == np.float32
            points = np.fromfile(osp.join(database.root, obj['path']), dtype=np.float32)
            points = points.reshape(-1, 5)  # x y z intensity time_lag
            assert len(points) == obj['num_points_in_gt'] > 0
            assert (np.linalg.norm(points[:, :2], axis=1) <= np.linalg.norm(box[3:5]) / 2
                    + 1e-3).all()  # relative to the box centre
            back = points[:, :3] + box[:3]
            assert box_np_ops.points_in_rbbox(back, box[None, :7]).all()
    assert {round(float(t), 3) for v in dbinfos.values() for d in v[:3]
            for t in np.fromfile(osp.join(database.root, d['path']),
                                 dtype=np.float32).reshape(-1, 5)[:, 4]} - {0.0}, \
        'no sweep points in the database (time_lag column all 0)'


def _sampler_cfg(database, classes, type_='DataBaseSampler'):
    return dict(type=type_, info_path=database.dbinfos, data_root=database.root, rate=1.0,
                prepare=dict(filter_by_difficulty=[-1],
                             filter_by_min_points={name: 5 for name in classes}),
                classes=classes, sample_groups={name: 3 for name in classes},
                points_loader=dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5,
                                   use_dim=5))


def test_mmdet3d_database_sampler_reads_and_samples_it(database):
    classes = ['car', 'pedestrian']
    sampler = TRANSFORMS.build(_sampler_cfg(database, classes))
    assert type(sampler).__name__ == 'DataBaseSampler'  # mmdet3d's own
    assert all(len(sampler.db_infos[name]) > 0 for name in classes)
    assert all(d['num_points_in_gt'] >= 5 for d in sampler.db_infos['car'])
    picked = sampler.sample_class_v2('car', 2, np.zeros((0, 9), dtype=np.float32))
    assert 1 <= len(picked) <= 2
    points = sampler.points_loader(dict(lidar_points=dict(
        lidar_path=osp.join(database.root, picked[0]['path']))))['points']
    assert points.shape == (picked[0]['num_points_in_gt'], 5)
    # ours: mmdet3d's sampler with int64 labels (mmdet3d 1.4's np.long fails on numpy >= 1.24)
    ours = TRANSFORMS.build(_sampler_cfg(database, classes, 'GTPasteDataBaseSampler'))
    np.random.seed(0)
    sampled = ours.sample_all(np.zeros((0, 9), dtype=np.float32), np.zeros(0, dtype=np.int64))
    labels = sampled['gt_labels_3d']
    assert labels.dtype == np.int64 and set(labels.tolist()) <= {0, 1} and len(labels) >= 2
    boxes = sampled['gt_bboxes_3d']
    inside = box_np_ops.points_in_rbbox(sampled['points'].coord.numpy(), boxes[:, :7])
    assert inside.any(axis=0).all()  # every pasted box holds its points


def _point_at(cfg, world_root: str, database) -> None:
    """Point the real-nuScenes config's training data at the synthetic world."""
    def fix(pipeline):
        for transform in pipeline:
            if transform['type'] == 'LoadBEVMapGT':
                transform['data_root'] = world_root
            if transform['type'] == 'ObjectSample':
                transform['db_sampler'].update(data_root=database.root,
                                               info_path=database.dbinfos)
    inner = cfg.train_dataloader.dataset.dataset
    inner.update(data_root=world_root, ann_file='nuscenes_infos_train.pkl')
    fix(inner.pipeline)
    for hook in cfg.custom_hooks:
        fix(hook['switch_pipeline'])


@pytest.fixture(scope='module')
def recipe(synthetic_world, database):
    cfg = Config.fromfile(LIDAR_CONFIG)
    _point_at(cfg, str(synthetic_world.nuscenes) + '/', database)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    return cfg, dataset


def _types(pipeline) -> list:
    return [type(t).__name__ for t in pipeline.transforms]


def test_cbgs_wraps_the_dataset_and_resamples_class_balanced(recipe, synthetic_world):
    cfg, dataset = recipe
    assert type(dataset).__name__ == 'CBGSDataset'
    inner = dataset.dataset
    assert type(inner).__name__ == 'NuScenesBEVDataset'
    cats = [inner.get_cat_ids(i) for i in range(len(inner))]
    counts = {c: sum(c in s for s in cats) for c in range(len(cfg.class_names))}
    duplicated = sum(counts.values())
    present = [c for c, n in counts.items() if n]
    # every class gets the same share: int(duplicated / num_classes) draws among its samples
    assert len(dataset) == len(present) * int(duplicated / len(cfg.class_names))
    assert len(dataset) > len(inner) == synthetic_world.config.num_keyframes
    assert set(dataset.sample_indices) <= set(range(len(inner)))


def test_gt_paste_adds_objects_with_their_points(recipe):
    cfg, dataset = recipe
    inner = dataset.dataset
    assert 'ObjectSample' in _types(inner.pipeline)
    paste_at = _types(inner.pipeline).index('ObjectSample')
    before_paste = Compose(inner.pipeline.transforms[:paste_at])
    paste = inner.pipeline.transforms[paste_at]
    np.random.seed(0)
    info = inner.get_data_info(0)
    results = before_paste(dict(info, box_type_3d=inner.box_type_3d,
                                box_mode_3d=inner.box_mode_3d))
    num_gt = len(results['gt_bboxes_3d'])
    pasted = paste(results)
    boxes = pasted['gt_bboxes_3d'].numpy()
    assert len(boxes) > num_gt and pasted['gt_labels_3d'].dtype == np.int64
    inside = box_np_ops.points_in_rbbox(pasted['points'].coord.numpy(), boxes[num_gt:, :7])
    assert (inside.sum(axis=0) >= 5).all()  # filter_by_min_points 5
    # packed through the whole recipe: more boxes than the pipeline without GT-paste
    np.random.seed(0)
    with_paste = dataset[0]['data_samples'].gt_instances_3d
    inner.pipeline = Compose(cfg.custom_hooks[0]['switch_pipeline'])  # at the world
    try:
        np.random.seed(0)
        without = dataset[0]['data_samples'].gt_instances_3d
    finally:
        inner.pipeline = Compose(cfg.train_dataloader.dataset.dataset.pipeline)
    assert len(with_paste.bboxes_3d) > len(without.bboxes_3d)


def test_switch_hook_removes_gt_paste_at_the_stop_epoch_under_cbgs(recipe):
    cfg, dataset = recipe
    inner = dataset.dataset
    (hook_cfg, ) = cfg.custom_hooks
    assert hook_cfg['switch_epoch'] == cfg.gt_paste_stop_epoch == 15
    loader = SimpleNamespace(dataset=dataset, persistent_workers=False)
    logger = MMLogger.get_instance('test_gt_database')
    original = inner.pipeline
    try:
        # mmdet's PipelineSwitchHook sets the wrapper's attribute, which CBGSDataset never reads
        stock = HOOKS.build(dict(hook_cfg, type='mmdet.PipelineSwitchHook'))
        stock.before_train_epoch(SimpleNamespace(epoch=15, train_dataloader=loader,
                                                 logger=logger))
        assert 'ObjectSample' in _types(inner.pipeline)
        del dataset.pipeline
        hook = HOOKS.build(hook_cfg)
        for epoch in (0, 14):
            hook.before_train_epoch(SimpleNamespace(epoch=epoch, train_dataloader=loader,
                                                    logger=logger))
            assert 'ObjectSample' in _types(inner.pipeline), epoch
        hook.before_train_epoch(SimpleNamespace(epoch=15, train_dataloader=loader,
                                                logger=logger))
        assert 'ObjectSample' not in _types(inner.pipeline)
        assert len(inner.pipeline.transforms) == len(original.transforms) - 1
        # a run resumed past the stop epoch switches at its first epoch
        resumed = HOOKS.build(hook_cfg)
        inner.pipeline = original
        resumed.before_train_epoch(SimpleNamespace(epoch=17, train_dataloader=loader,
                                                   logger=logger))
        assert 'ObjectSample' not in _types(inner.pipeline)
    finally:
        inner.pipeline = original
