"""Pictures of predictions (mmdet3d_plugin.visualization.prediction_views) on a tiny generated
world with a randomly initialised tiny BEVFusion checkpoint: both PNGs written with their sizes
and content, the projection of model boxes agrees with the devkit's (so a prediction equal to a
GT box lands on the GT box's pixels), boxes behind a camera are not drawn, a LiDAR-only model
gets "no map head", and the tool runs from another working directory."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mmdet3d_plugin.visualization import camera_view, prediction_bev
from mmdet3d_plugin.visualization.box_geometry import lidar_box_corners, transform_points
from mmdet3d_plugin.visualization.camera_view import box_segments, corner_segments
from mmdet3d_plugin.visualization.palettes import MAP_COLORS
from mmdet3d_plugin.visualization.prediction_views import (GT_STYLE, build_split_dataset,
                                                           camera_sources, camera_strokes,
                                                           render_predictions)

REPO = Path(__file__).resolve().parents[2]
BEVFUSION = REPO / 'configs/bevfusion/bevfusion_lidar-cam_tiny_1xb2-cpu_synthetic.py'
POINTPILLARS = REPO / 'configs/pointpillars/pointpillars_hv_secfpn_1xb4-cpu-synthetic_nus-3d.py'
TOOL = REPO / 'tools' / 'visualize_predictions.py'


def point_config_at(path: Path, root: Path) -> Config:
    """The config with every data path on the tiny world ``root``."""
    cfg = Config.fromfile(str(path))
    data_root = str(root) + '/'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
        for step in cfg[key].dataset.pipeline:
            if step['type'] == 'LoadBEVMapGT':
                step['data_root'] = data_root
    for key in ('val_evaluator', 'test_evaluator'):
        metrics = cfg[key] if isinstance(cfg[key], list) else [cfg[key]]
        for metric in metrics:
            if metric['type'] == 'NuScenesMetric':
                metric.update(data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl')
    return cfg


def random_checkpoint(cfg: Config, path: Path) -> str:
    from mmdet3d_plugin.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save({'state_dict': model.state_dict()}, str(path))
    return str(path)


@pytest.fixture(scope='module')
def world(synthetic_world):
    """The shared world's nuScenes root (with its infos)."""
    return synthetic_world.nuscenes


@pytest.fixture(scope='module')
def cfg(world):
    return point_config_at(BEVFUSION, world)


@pytest.fixture(scope='module')
def checkpoint(cfg, tmp_path_factory):
    return random_checkpoint(cfg, tmp_path_factory.mktemp('ckpt') / 'bevfusion_random.pth')


@pytest.fixture(scope='module')
def rendered(cfg, checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp('pred_out')
    return render_predictions(cfg, checkpoint, str(out), sample_index=0, score_thr=0.0)


@pytest.fixture(scope='module')
def val_sample(cfg):
    dataset = build_split_dataset(cfg, 'val')
    return dataset, dataset[0]['data_samples']


def pixels(path):
    return np.asarray(Image.open(path).convert('RGB')).astype(np.int64)


def test_writes_both_pngs_with_their_sizes(rendered):
    assert sorted(rendered) == ['pred_bev', 'pred_cameras']
    cameras, bev = pixels(rendered['pred_cameras']), pixels(rendered['pred_bev'])
    assert cameras.shape[:2] == (2 * 225 + camera_view.LEGEND_HEIGHT, 3 * 400)
    assert bev.shape[:2] == prediction_bev.FIG_SIZE[::-1]
    for image in (cameras, bev):
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 200 and image.std() > 20
    # the GT panel shows the drivable area around the ego in its map colour
    alpha = 0.55
    drivable = (1 - alpha) * 255 + alpha * np.array(MAP_COLORS['drivable_area'])
    left = bev[70:790, 70:790]
    assert (np.abs(left - drivable).max(-1) <= 3).mean() > 0.02
    assert not [p for p in os.listdir(os.path.dirname(rendered['pred_bev'])) if p.endswith('.tmp')]


def test_model_boxes_project_like_the_devkit(world, val_sample):
    """A LiDAR-frame GT box (mmdet3d corners, lidar2cam, cam2img) draws exactly where the
    devkit draws the same annotation; a prediction equal to it gets the same strokes."""
    from nuscenes import NuScenes
    from nuscenes.utils.geometry_utils import BoxVisibility
    dataset, sample = val_sample
    ann = sample.eval_ann_info
    corners = lidar_box_corners(ann['gt_bboxes_3d'])
    tokens = list(ann['instance_token'])
    sources = {s['name']: s for s in camera_sources(sample, dataset, 0)}
    assert len(sources) == 6 and all(os.path.isfile(s['path']) for s in sources.values())
    nusc = NuScenes('v1.0-mini', str(world), verbose=False)
    record = nusc.get('sample', sample.metainfo['token'])
    compared = 0
    for name, source in sources.items():
        _, boxes, intrinsic = nusc.get_sample_data(record['data'][name],
                                                   box_vis_level=BoxVisibility.NONE)
        for box in boxes:
            instance = nusc.get('sample_annotation', box.token)['instance_token']
            if instance not in tokens:
                continue
            expected = box_segments(box, intrinsic, (400, 225))
            ours = corner_segments(transform_points(corners[tokens.index(instance)],
                                                    source['lidar2cam']),
                                   source['cam2img'], (400, 225))
            assert ours.shape == expected.shape, (name, instance)
            np.testing.assert_allclose(ours, expected, atol=0.05)
            compared += len(expected) > 0
        gt = camera_strokes(corners, source, (400, 225), [GT_STYLE] * len(corners))
        pred = camera_strokes(corners, source, (400, 225),
                              [dict(color=(1, 0, 0))] * len(corners))
        assert len(gt) == len(pred)
        for a, b in zip(gt, pred):
            np.testing.assert_array_equal(a['segments'], b['segments'])
    assert compared > 10


def test_mmdet3d_corners_follow_the_devkit_order():
    from mmdet3d.structures import LiDARInstance3DBoxes
    from nuscenes.utils.data_classes import Box
    from pyquaternion import Quaternion
    x, y, z, length, width, height, yaw = 3.0, -2.0, -1.5, 4.5, 1.9, 1.6, 0.7
    boxes = LiDARInstance3DBoxes(torch.tensor([[x, y, z, length, width, height, yaw]]))
    devkit = Box([x, y, z + height / 2], [width, length, height],
                 Quaternion(axis=[0, 0, 1], angle=yaw))
    np.testing.assert_allclose(lidar_box_corners(boxes)[0], devkit.corners().T, atol=1e-5)
    assert lidar_box_corners(None).shape == (0, 8, 3)


def test_box_behind_the_camera_is_not_drawn(val_sample):
    from mmdet3d.structures import LiDARInstance3DBoxes
    dataset, sample = val_sample
    sources = {s['name']: s for s in camera_sources(sample, dataset, 0)}
    front, back = sources['CAM_FRONT'], sources['CAM_BACK']
    behind = transform_points(np.array([0.0, 0.0, -10.0]), np.linalg.inv(front['lidar2cam']))
    box = LiDARInstance3DBoxes(torch.tensor([[*behind[:2], behind[2] - 0.8, 4.0, 2.0, 1.6, 0.3]]))
    corners = lidar_box_corners(box)
    assert len(camera_strokes(corners, front, (400, 225), [GT_STYLE])) == 0
    drawn = camera_strokes(corners, back, (400, 225), [GT_STYLE])
    assert len(drawn) == 1 and np.isfinite(drawn[0]['segments']).all()
    # straddling the camera plane: only the part in front is drawn, never through infinity
    beside = transform_points(np.array([0.0, 0.0, 0.5]), np.linalg.inv(front['lidar2cam']))
    near = LiDARInstance3DBoxes(torch.tensor([[*beside[:2], beside[2] - 0.8, 4, 2, 1.6, 0.0]]))
    segments = camera_strokes(lidar_box_corners(near), front, (400, 225), [GT_STYLE])
    assert all(np.abs(s['segments']).max() < 1e5 for s in segments)


def test_lidar_only_model_has_no_map_head(world, tmp_path):
    cfg = point_config_at(POINTPILLARS, world)
    checkpoint = random_checkpoint(cfg, tmp_path / 'pointpillars_random.pth')
    written = render_predictions(cfg, checkpoint, str(tmp_path / 'out'), score_thr=0.05)
    # cameras come from the info (the LiDAR-only pipeline loads no images)
    assert sorted(written) == ['pred_bev', 'pred_cameras']
    bev = pixels(written['pred_bev'])
    assert bev.shape[:2] == prediction_bev.FIG_SIZE[::-1]
    right = bev[75:785, 865:1575]  # no map: mostly white under the predicted boxes
    assert (right.min(-1) >= 250).mean() > 0.6
    with pytest.raises(IndexError, match='sample index 5 out of range'):
        render_predictions(cfg, checkpoint, str(tmp_path / 'out'), sample_index=5)
    with pytest.raises(ValueError, match="split must be one of"):
        render_predictions(cfg, checkpoint, str(tmp_path / 'out'), split='train')


@pytest.mark.slow
def test_tool_runs_from_another_directory(cfg, checkpoint, tmp_path):
    config = tmp_path / 'config.py'
    cfg.dump(str(config))
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    result = subprocess.run(
        [sys.executable, str(TOOL), str(config), checkpoint, '--out-dir', 'pictures',
         '--score-thr', '0.2'], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ('pred_cameras', 'pred_bev'):
        path = tmp_path / 'pictures' / f'{name}.png'
        assert f'{name}: {path}' in result.stdout and path.is_file()
    missing = subprocess.run([sys.executable, str(TOOL), str(config), 'nope.pth'],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and 'checkpoint file not found: nope.pth' in missing.stderr
