"""tools/browse_dataset.py on a small synthetic dataset, run as users run it (another working
directory, a fresh process), plus the geometry it relies on: map masks in the ego frame (also
at a turned pose), points and map agreeing through lidarseg, boxes clipped at the near plane,
and the errors bad input raises."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmdet3d_plugin.visualization import bev_view, browse_sample, camera_view, occupancy_view
from mmdet3d_plugin.visualization.map_masks import bev_map_masks
from mmdet3d_plugin.visualization.nuscenes_access import (load_ego_sample, load_map,
                                                          open_nuscenes)
from mmdet3d_plugin.visualization.palettes import MAP_COLORS

REPO = Path(__file__).resolve().parents[2]
TOOL = str(REPO / 'tools' / 'browse_dataset.py')
VERSION = 'v1.0-mini'


def run_tool(args, cwd):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}  # the installed package
    return subprocess.run([sys.executable, TOOL] + [str(a) for a in args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope='module')
def data(synthetic_world):
    """The shared world's folder (``nuscenes/``, ``occ3d/``)."""
    return synthetic_world.out


@pytest.fixture(scope='module')
def nusc(data):
    return open_nuscenes(str(data / 'nuscenes'), VERSION)


@pytest.fixture(scope='module')
def rendered(data, tmp_path_factory):
    cwd = tmp_path_factory.mktemp('elsewhere')
    result = run_tool(['--dataroot', data / 'nuscenes', '--version', VERSION, '--sample-index', 1,
                       '--out-dir', 'browse', '--occ3d-root', data / 'occ3d'], cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return cwd / 'browse', result.stdout


def image(path):
    return np.asarray(Image.open(path).convert('RGB')).astype(np.int64)


def assert_non_trivial(pixels):
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200
    assert pixels.std() > 20


def test_tool_writes_three_pngs_and_says_where(rendered):
    out, stdout = rendered
    sizes = {'cameras': (3 * 400, 2 * 225 + camera_view.LEGEND_HEIGHT),
             'bev': bev_view.FIG_SIZE, 'occupancy': occupancy_view.FIG_SIZE}
    for name, size in sizes.items():
        path = out / f'{name}.png'
        assert f'{name}: {path}' in stdout
        assert Image.open(path).size == size, name
        assert_non_trivial(image(path))


def test_bev_shows_map_and_points(rendered):
    import matplotlib
    pixels = image(rendered[0] / 'bev.png')[40:960, 70:970]  # inside the map panel
    alpha = bev_view.MAP_ALPHA
    drivable = (1 - alpha) * 255 + alpha * np.array(MAP_COLORS['drivable_area'])
    walkway = (1 - alpha) * 255 + alpha * np.array(MAP_COLORS['walkway'])
    for color in (drivable, walkway):
        assert (np.abs(pixels - color).max(-1) <= 3).mean() > 0.03
    low, high = bev_view.HEIGHT_RANGE
    ground = np.array(matplotlib.colormaps['viridis']((0 - low) / (high - low))[:3]) * 255
    assert (np.linalg.norm(pixels - ground, axis=-1) < 40).sum() > 500  # ground returns


def test_cameras_show_box_colours(rendered):
    from mmdet3d_plugin.visualization.palettes import DETECTION_COLORS
    pixels = image(rendered[0] / 'cameras.png')[:450]
    car = np.array(DETECTION_COLORS['car'])
    assert (np.abs(pixels - car).max(-1) <= 30).sum() > 50


def test_map_masks_are_in_the_ego_frame_at_any_heading(nusc, data):
    import shapely
    from shapely.ops import unary_union
    sample = load_ego_sample(nusc, nusc.sample[0]['token'])
    nusc_map = load_map(str(data / 'nuscenes'), sample.location)
    area = unary_union([nusc_map.extract_polygon(token) for record in nusc_map.drivable_area
                        for token in record['polygon_tokens']])
    centres = -50 + (np.arange(200) + 0.5) * 0.5
    x, y = np.meshgrid(centres, centres)  # mask[row, col] covers (x[col], y[row])
    for yaw in np.radians([0.0, 30.0, -120.0]):
        masks = bev_map_masks(nusc_map, sample.ego_translation, yaw)
        assert all(m.shape == (200, 200) for m in masks.values())
        c, s = np.cos(yaw), np.sin(yaw)
        inside = shapely.contains_xy(area, sample.ego_translation[0] + c * x - s * y,
                                     sample.ego_translation[1] + s * x + c * y)
        assert (masks['drivable_area'] == inside).mean() > 0.97, np.degrees(yaw)
        assert masks['divider'].any()


def test_lidar_points_fall_on_their_map_surface(nusc, data):
    token = nusc.sample[2]['token']
    sample = load_ego_sample(nusc, token)
    masks = bev_map_masks(load_map(str(data / 'nuscenes'), sample.location),
                          sample.ego_translation, sample.ego_yaw)
    lidar_token = nusc.get('sample', token)['data']['LIDAR_TOP']
    record = next(r for r in nusc.lidarseg if r['sample_data_token'] == lidar_token)
    labels = np.fromfile(os.path.join(nusc.dataroot, record['filename']), dtype=np.uint8)
    col = np.floor((sample.points[:, 0] + 50) / 0.5).astype(int)
    row = np.floor((sample.points[:, 1] + 50) / 0.5).astype(int)
    valid = (col >= 1) & (col < 199) & (row >= 1) & (row < 199)
    for category, layers in (('flat.driveable_surface', ('drivable_area', 'ped_crossing')),
                             ('flat.sidewalk', ('walkway', ))):
        mask = np.logical_or.reduce([masks[name] for name in layers])
        chosen = valid & (labels == nusc.lidarseg_name2idx_mapping[category])
        assert chosen.sum() > 100, category
        # the point's pixel or a neighbour (rasterisation edges) carries the surface
        near = np.zeros(chosen.sum(), dtype=bool)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                near |= mask[row[chosen] + dr, col[chosen] + dc]
        assert near.mean() > 0.98, category


def test_box_edges_are_clipped_at_the_near_plane(nusc):
    starts = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 2.0], [0.0, 0.0, -2.0]])
    ends = np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 3.0], [0.0, 1.0, -1.0]])
    clipped_starts, clipped_ends = camera_view.clip_segments(starts, ends, near=0.1)
    assert len(clipped_starts) == 2  # the segment wholly behind the camera is gone
    np.testing.assert_allclose(clipped_starts[0], [1.1, 0.0, 0.1])
    np.testing.assert_allclose(clipped_ends[0], [2.0, 0.0, 1.0])
    np.testing.assert_allclose(clipped_starts[1], starts[1])
    views = camera_view.camera_boxes(nusc, nusc.sample[0]['token'])
    for view in views.values():
        for segments in view['segments']:
            assert np.isfinite(segments).all() and segments.shape[1:] == (2, 2)
    assert len(views['CAM_FRONT']['segments']) > 3


def test_top_down_takes_the_highest_visible_voxel():
    semantics = np.full((2, 1, 4), 17, dtype=np.uint8)
    semantics[0, 0, :2] = (11, 4)  # road, car on it
    visible = np.ones_like(semantics)
    visible[0, 0, 1] = 0
    labels, level = occupancy_view.top_down(semantics)
    assert labels.tolist() == [[4], [17]] and level.tolist() == [[1], [-1]]
    labels, level = occupancy_view.top_down(semantics, visible=visible)
    assert labels.tolist() == [[11], [17]] and level.tolist() == [[0], [-1]]


def test_browse_by_token_without_occupancy(nusc, data, tmp_path):
    token = nusc.sample[3]['token']
    written = browse_sample(str(data / 'nuscenes'), VERSION, str(tmp_path), sample_token=token)
    assert sorted(written) == ['bev', 'cameras']
    assert all(os.path.isfile(p) for p in written.values())


def test_bad_input_raises_errors_naming_what_was_expected(nusc, data, tmp_path):
    dataroot = str(data / 'nuscenes')
    with pytest.raises(FileNotFoundError, match='dataroot .*missing-root.* does not exist'):
        browse_sample(str(tmp_path / 'missing-root'), VERSION, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"'v9\.9'.*v9\.9/.*versions present.*v1\.0-mini"):
        browse_sample(dataroot, 'v9.9', str(tmp_path))
    count = len(nusc.sample)
    with pytest.raises(IndexError,
                       match=rf'sample index {count} out of range.*sample\.json has {count}'):
        browse_sample(dataroot, VERSION, str(tmp_path), sample_index=count)
    with pytest.raises(KeyError, match="sample token 'nope' not found"):
        browse_sample(dataroot, VERSION, str(tmp_path), sample_token='nope')
    empty = tmp_path / 'occ3d'
    scene = nusc.get('scene', nusc.sample[0]['scene_token'])['name']
    with pytest.raises(FileNotFoundError, match=f'{scene}/{nusc.sample[0]["token"]}/labels.npz'):
        browse_sample(dataroot, VERSION, str(tmp_path), sample_index=0, occ3d_root=str(empty))
    path = empty / 'gts' / scene / nusc.sample[0]['token'] / 'labels.npz'
    path.parent.mkdir(parents=True)
    np.savez(path, semantics=np.zeros((4, 4, 2), dtype=np.uint8))
    with pytest.raises(KeyError, match=r"lacks \['mask_camera'\]"):
        browse_sample(dataroot, VERSION, str(tmp_path), sample_index=0, occ3d_root=str(empty))
    assert not (tmp_path / 'cameras.png').exists()  # bad input fails before drawing


def test_tool_reports_bad_input_on_stderr(data, tmp_path):
    result = run_tool(['--dataroot', data / 'nuscenes', '--sample-token', 'nope',
                       '--out-dir', tmp_path], tmp_path)
    assert result.returncode == 2
    assert "KeyError: sample token 'nope' not found" in result.stderr
    assert 'Traceback' not in result.stderr
