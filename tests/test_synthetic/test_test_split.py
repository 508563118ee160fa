"""The synthetic world's annotation-free test split: ``nuscenes/v1.0-test`` loads with the
devkit's ``NuScenes`` like the real ``v1.0-test`` (scenes of the devkit's ``test`` split, sensor
data, no annotation, no lidarseg), leaves the annotated scenes byte-identical, is the same for
any worker count (slow), and gets ``nuscenes_infos_test.pkl`` from the info converter."""
import os
import pickle

import pytest
from file_digest import tree_digest

from mmdet3d_plugin.synthetic import WorldConfig, nuscenes_test_scene_names
from mmdet3d_plugin.synthetic.generate import generate_synthetic

MINI = ('scene-0103', )
CONFIG = WorldConfig(scene_names=MINI, num_keyframes=2,
                     test_scene_names=nuscenes_test_scene_names(2))
FORMATS = ('nuscenes', 'kitti')
CHANNELS = {'LIDAR_TOP', 'CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
            'CAM_BACK_LEFT', 'CAM_BACK_RIGHT'}


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp('test_split') / 'world'
    generate_synthetic(str(out), CONFIG, formats=FORMATS, progress=False, workers=1)
    return out


def test_test_scene_names_are_the_devkits_test_split():
    from nuscenes.utils.splits import create_splits_scenes
    assert nuscenes_test_scene_names(2) == tuple(create_splits_scenes()['test'][:2])
    assert nuscenes_test_scene_names(0) == ()
    with pytest.raises(ValueError, match='count must be in'):
        nuscenes_test_scene_names(151)
    with pytest.raises(ValueError, match='in both scene_names and test_scene_names'):
        from mmdet3d_plugin.synthetic import SyntheticWorld
        SyntheticWorld(WorldConfig(scene_names=('scene-0103', ),
                                   test_scene_names=('scene-0103', )))


def test_v1_0_test_loads_like_the_real_test_set(world):
    from nuscenes import NuScenes
    from nuscenes.utils.splits import create_splits_scenes
    root = str(world / 'nuscenes')
    nusc = NuScenes(version='v1.0-test', dataroot=root, verbose=False)
    assert [s['name'] for s in nusc.scene] == list(CONFIG.test_scene_names)
    assert set(CONFIG.test_scene_names) <= set(create_splits_scenes()['test'])
    assert len(nusc.sample) == 2 * 2
    assert nusc.sample_annotation == [] and nusc.instance == []
    assert 'lidarseg' not in nusc.table_names
    assert not os.path.exists(os.path.join(root, 'lidarseg', 'v1.0-test'))
    with open(os.path.join(root, 'v1.0-test', 'sample_annotation.json')) as f:
        assert f.read() == '[]'
    for sample in nusc.sample:
        assert sample['anns'] == [] and set(sample['data']) == CHANNELS
        for channel in CHANNELS:
            path = nusc.get_sample_data_path(sample['data'][channel])
            assert os.path.getsize(path) > 0
    lidar = nusc.get('sample_data', nusc.sample[-1]['data']['LIDAR_TOP'])
    assert lidar['prev']  # 20 Hz sweeps in sweeps/, as in the annotated scenes
    assert os.path.isfile(os.path.join(root, nusc.get('sample_data', lidar['prev'])['filename']))
    logs = {log['location'] for log in nusc.log}
    assert all(os.path.isfile(os.path.join(root, 'maps', 'expansion', f'{loc}.json'))
               for loc in logs)
    # the annotated version is unaffected and knows nothing of the test scenes
    mini = NuScenes(version='v1.0-mini', dataroot=root, verbose=False)
    assert [s['name'] for s in mini.scene] == list(MINI) and len(mini.sample_annotation) > 0


def test_annotated_scenes_are_unchanged_by_the_test_split(world, tmp_path):
    """Without the test split every other file is byte-identical (KITTI, which has no test
    split, included); the test scenes' files are all new."""
    plain = generate_synthetic(str(tmp_path / 'plain'), WorldConfig(scene_names=MINI,
                                                                    num_keyframes=2),
                               formats=FORMATS, progress=False, workers=1)
    with_test, without = tree_digest(world), tree_digest(plain)
    test_only = {p for p in with_test if 'v1.0-test' in p or any(
        f'-{name}__' in p for name in CONFIG.test_scene_names)}
    assert test_only and not test_only & set(without)
    shared = {p: h for p, h in with_test.items() if p not in test_only}
    shared.pop('GENERATED.txt')
    without.pop('GENERATED.txt')
    maps = {p for p in shared if p.startswith(os.path.join('nuscenes', 'maps'))}
    assert {p: h for p, h in shared.items() if p not in maps} == {
        p: h for p, h in without.items() if p not in maps}
    assert all(shared[p] == without[p] for p in maps & set(without))


@pytest.mark.slow
def test_test_split_bytes_do_not_depend_on_workers(world, tmp_path):
    two = generate_synthetic(str(tmp_path / 'two'), CONFIG, formats=FORMATS, progress=False,
                             workers=2)
    assert tree_digest(two) == tree_digest(world)


def test_test_infos_have_every_sample_and_no_instances(world, tmp_path):
    from mmdet3d_plugin.datasets.converters import create_nuscenes_infos
    from mmdet3d_plugin.evaluation.submission import split_sample_tokens
    root = str(world / 'nuscenes')
    written = create_nuscenes_infos(root, str(tmp_path), 'v1.0-test', max_sweeps=2,
                                    progress=False)
    assert list(written) == ['test']
    assert os.path.basename(written['test']) == 'nuscenes_infos_test.pkl'
    with open(written['test'], 'rb') as f:
        infos = pickle.load(f)
    assert infos['metainfo']['version'] == 'v1.0-test'
    data = infos['data_list']
    assert [d['token'] for d in data] == split_sample_tokens(root, 'v1.0-test', 'test')
    assert all(d['instances'] == [] and 'pts_semantic_mask_path' not in d for d in data)
    assert all(len(d['images']) == 6 and len(d['lidar_sweeps']) == 2 for d in data)
    assert {d['scene_name'] for d in data} == set(CONFIG.test_scene_names)
