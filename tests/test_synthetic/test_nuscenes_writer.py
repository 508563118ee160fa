"""The synthetic world written as nuScenes: read back by the devkit, exact annotations, perfect
GT-as-prediction score in DetectionEval, atomic generation."""
import json
import os

import numpy as np
import pytest
import torch

from mmdet3d_plugin.synthetic import WorldConfig
from mmdet3d_plugin.synthetic import generate as generate_module
from mmdet3d_plugin.synthetic.generate import generate_synthetic
from mmdet3d_plugin.synthetic.nuscenes_tables import LIDARSEG_INDEX

VAL_SCENES = ('scene-0103', 'scene-0916')  # nuScenes' mini_val split


@pytest.fixture(scope='module')
def dataroot(synthetic_world):
    """The shared world's nuScenes root: scene-0061 (mini_train) and scene-0103 (mini_val)."""
    return str(synthetic_world.nuscenes)


@pytest.fixture(scope='module')
def nusc(dataroot):
    from nuscenes import NuScenes
    return NuScenes('v1.0-mini', dataroot, verbose=False)


def test_devkit_reads_every_table_and_file(nusc, dataroot, synthetic_world):
    config = synthetic_world.config
    assert [s['name'] for s in nusc.scene] == list(config.scene_names)
    assert len(nusc.sample) == len(config.scene_names) * config.num_keyframes
    channels = {'LIDAR_TOP', 'CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
                'CAM_BACK_LEFT', 'CAM_BACK_RIGHT'}
    for sample in nusc.sample:
        assert set(sample['data']) == channels
        for token in sample['data'].values():
            assert os.path.isfile(nusc.get_sample_data_path(token))
    lidar = nusc.get('sample_data', nusc.sample[0]['data']['LIDAR_TOP'])
    sweeps, token = 0, lidar['prev']
    while token:
        sweeps, token = sweeps + 1, nusc.get('sample_data', token)['prev']
    assert sweeps >= 40  # 40-sweep accumulation possible even at the first keyframe
    size = os.path.getsize(os.path.join(dataroot, lidar['filename']))
    assert size > 0 and size % (5 * 4) == 0
    assert not [p for p in os.listdir(os.path.dirname(dataroot)) if p.startswith('.tmp')]


def test_num_lidar_pts_equals_points_in_box(nusc):
    from mmcv.ops import points_in_boxes_cpu
    from nuscenes.utils.data_classes import LidarPointCloud
    checked = 0
    for sample in nusc.sample[:3]:
        sd_token = sample['data']['LIDAR_TOP']
        cloud = LidarPointCloud.from_file(nusc.get_sample_data_path(sd_token))
        _, boxes, _ = nusc.get_sample_data(sd_token)  # boxes in the sensor frame
        tensor = torch.tensor([[*b.center, b.wlh[1], b.wlh[0], b.wlh[2], b.orientation.yaw_pitch_roll[0]]
                               for b in boxes], dtype=torch.float32)
        tensor[:, 2] -= tensor[:, 5] / 2  # mmcv boxes have their origin at the bottom centre
        inside = points_in_boxes_cpu(torch.tensor(cloud.points[:3].T, dtype=torch.float32)[None],
                                     tensor[None])[0]
        counts = inside.sum(0).numpy()
        for box, count in zip(boxes, counts):
            ann = nusc.get('sample_annotation', box.token)
            assert ann['num_lidar_pts'] == count, box.name
            checked += 1
    assert checked > 20


def test_lidarseg_labels_match_points(nusc):
    sd_token = nusc.sample[0]['data']['LIDAR_TOP']
    record = next(r for r in nusc.lidarseg if r['sample_data_token'] == sd_token)
    labels = np.fromfile(os.path.join(nusc.dataroot, record['filename']), dtype=np.uint8)
    points = np.fromfile(nusc.get_sample_data_path(sd_token), dtype=np.float32).reshape(-1, 5)
    assert len(labels) == len(points)
    assert LIDARSEG_INDEX['flat.driveable_surface'] in labels
    assert LIDARSEG_INDEX['vehicle.car'] in labels


def test_map_loads_and_rasterises(nusc, dataroot):
    from nuscenes.map_expansion.map_api import NuScenesMap
    log = nusc.get('log', nusc.scene[0]['log_token'])
    nusc_map = NuScenesMap(dataroot, log['location'])
    pose = nusc.get('ego_pose', nusc.get('sample_data', nusc.sample[0]['data']['LIDAR_TOP'])
                    ['ego_pose_token'])
    x, y = pose['translation'][:2]
    masks = nusc_map.get_map_mask((x, y, 100, 100), 0.0, ['drivable_area', 'walkway'], (200, 200))
    assert masks[0].mean() > 0.05 and masks[1].mean() > 0.02


def test_ground_truth_as_prediction_scores_perfectly(nusc, tmp_path):
    from nuscenes.eval.common.loaders import load_gt
    from nuscenes.eval.detection.config import config_factory
    from nuscenes.eval.detection.data_classes import DetectionBox
    from nuscenes.eval.detection.evaluate import DetectionEval
    gt = load_gt(nusc, 'mini_val', DetectionBox, verbose=False)
    results = {token: [dict(sample_token=token, translation=list(b.translation), size=list(b.size),
                            rotation=list(b.rotation), velocity=list(b.velocity),
                            detection_name=b.detection_name, detection_score=1.0,
                            attribute_name=b.attribute_name)
                       for b in gt[token] if b.num_pts > 0]  # the boxes DetectionEval keeps
               for token in gt.sample_tokens}
    path = tmp_path / 'results.json'
    path.write_text(json.dumps(dict(meta=dict(use_camera=False, use_lidar=True, use_radar=False,
                                              use_map=False, use_external=False),
                                    results=results)))
    evaluation = DetectionEval(nusc, config_factory('detection_cvpr_2019'), str(path),
                               'mini_val', str(tmp_path / 'eval'), verbose=False)
    metrics, _ = evaluation.evaluate()
    summary = metrics.serialize()
    # the devkit gives a class without any scored box AP 0 whatever the submission: score the
    # classes the split has (the tiny val scene's only traffic cone within range is occluded)
    scored = sorted({b.detection_name for b in evaluation.gt_boxes.all})
    assert len(scored) >= 9, scored
    aps = summary['mean_dist_aps']
    assert all(aps[name] == pytest.approx(1.0) for name in scored), aps
    assert summary['mean_ap'] == pytest.approx(len(scored) / len(aps))
    for name in scored:  # every true-positive error of a scored class is 0
        errors = summary['label_tp_errors'][name]
        assert all(np.isnan(v) or v == pytest.approx(0.0, abs=1e-6) for v in errors.values()), \
            (name, errors)


@pytest.mark.parametrize('workers', [1, 2])
def test_generation_is_atomic(tmp_path, monkeypatch, workers):
    out = tmp_path / 'world'
    out.mkdir()
    with pytest.raises(FileExistsError, match='overwrite'):
        generate_synthetic(str(out), WorldConfig(scene_names=VAL_SCENES[:1], num_keyframes=1))
    write_scene = generate_module.write_scene

    def crash(world, root, formats, scene_index):  # the second scene fails half-way
        if scene_index == 0:
            return write_scene(world, root, formats, scene_index)
        os.makedirs(os.path.join(root, 'nuscenes'), exist_ok=True)
        open(os.path.join(root, 'nuscenes', 'half-written.json'), 'w').close()
        raise RuntimeError('disk full')

    def crash_after_workers(writer, scene_rows):  # workers wrote every scene, then a failure
        open(os.path.join(writer.dataroot, 'half-written.json'), 'w').close()
        raise RuntimeError('disk full')

    if workers == 1:
        monkeypatch.setattr(generate_module, 'write_scene', crash)
    else:  # worker processes are not forked, so a patch reaches only this process
        monkeypatch.setattr(generate_module.NuScenesWriter, 'finish', crash_after_workers)
    target = tmp_path / 'other'
    with pytest.raises(RuntimeError, match='disk full'):
        generate_synthetic(str(target), WorldConfig(scene_names=VAL_SCENES, num_keyframes=1),
                           formats=('nuscenes', ), progress=False, workers=workers)
    assert not target.exists()
    assert sorted(os.listdir(tmp_path)) == ['world']


def test_occupancy_formats_use_the_nuscenes_tokens(synthetic_world, nusc):
    from mmdet3d_plugin.structures import densify_nuscenes_occupancy
    out = synthetic_world.out  # their writers derive the tokens themselves
    for sample in nusc.sample:
        scene = nusc.get('scene', sample['scene_token'])
        labels = np.load(out / 'occ3d' / 'gts' / scene['name'] / sample['token'] / 'labels.npz')
        assert labels['semantics'].shape == (200, 200, 16)
        assert set(labels.files) == {'semantics', 'mask_lidar', 'mask_camera'}
        sparse = np.load(out / 'nuscenes-occupancy' / f"scene_{scene['token']}" / 'occupancy' /
                         f"{sample['data']['LIDAR_TOP']}.npy")
        dense = densify_nuscenes_occupancy(sparse, (512, 512, 40))
        assert sparse.shape[1] == 4 and (dense > 0).any()
