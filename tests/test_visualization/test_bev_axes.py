"""Prediction BEV orientation (mmdet3d_plugin.visualization.bev_axes): the ego's forward is
drawn up and its left on the left for nuScenes' LIDAR_TOP (x right, y forward) as for a frame
with x forward, read off the frame's lidar2ego; checked on the rendered pixels."""
import numpy as np
import pytest
from PIL import Image

from mmdet3d_plugin.visualization import prediction_bev
from mmdet3d_plugin.visualization.bev_axes import ego_arrow, forward_axis_of, forward_up
from mmdet3d_plugin.visualization.box_geometry import lidar_box_corners
from mmdet3d_plugin.visualization.palettes import class_color


def yaw(degrees):
    c, s = np.cos(np.deg2rad(degrees)), np.sin(np.deg2rad(degrees))
    matrix = np.eye(4)
    matrix[:2, :2] = [[c, -s], [s, c]]
    return matrix


def test_forward_axis_of_lidar2ego():
    assert forward_axis_of(yaw(-90.0)) == '+y'  # nuScenes LIDAR_TOP
    assert forward_axis_of(yaw(-89.7)[:3, :3]) == '+y'  # calibrated, not exact
    assert forward_axis_of(np.eye(4)) == '+x'
    assert forward_axis_of(None) == '+x'  # KITTI Velodyne: x forward
    assert forward_axis_of(yaw(90.0)) == '-y'
    assert forward_axis_of(yaw(180.0)) == '-x'
    with pytest.raises(ValueError, match=r'lidar2ego must be .* got shape \(2, 2\)'):
        forward_axis_of(np.eye(2))


def test_forward_up_layouts():
    x_forward, y_forward = forward_up('+x'), forward_up('+y')
    # x forward: y along the horizontal, +y (left) on the left
    assert (x_forward.swap, x_forward.flip_h, x_forward.flip_v) == (True, True, False)
    assert x_forward.labels == ('y (LiDAR; ego left) [m]', 'x (LiDAR; ego forward) [m]')
    # nuScenes: x (right) to the right, y (forward) up: no swap, no flip
    assert (y_forward.swap, y_forward.flip_h, y_forward.flip_v) == (False, False, False)
    assert y_forward.labels == ('x (LiDAR; ego right) [m]', 'y (LiDAR; ego forward) [m]')
    assert forward_up('-y').flip_h and forward_up('-y').flip_v
    np.testing.assert_allclose(ego_arrow('+y')[0], [0.0, 2.5], atol=1e-12)
    with pytest.raises(ValueError, match='forward must be one of'):
        forward_up('up')


def box(x, y, length=6.0, width=3.0):
    import torch
    from mmdet3d.structures import LiDARInstance3DBoxes
    return lidar_box_corners(LiDARInstance3DBoxes(torch.tensor([[x, y, -1.0, length, width,
                                                                 1.5, 0.0, 0.0, 0.0]]),
                                                  box_dim=9))


def colour_centroid(image, colour):
    """(column, row) mean of the pixels within 80 of ``colour`` (RGB 0-255) in the GT panel."""
    panel = image[70:790, 70:790].astype(float)  # rows / cols of the left 720 x 720 panel
    near = np.abs(panel - np.array(colour) * 255.0).sum(-1) < 80  # anti-aliased lines
    assert near.sum() > 20, 'box not drawn'
    rows, cols = np.nonzero(near)
    return cols.mean(), rows.mean()


@pytest.mark.parametrize('forward, ahead, left', [('+y', (0.0, 30.0), (-30.0, 0.0)),
                                                  ('+x', (30.0, 0.0), (0.0, 30.0))])
def test_forward_is_drawn_up_and_left_on_the_left(tmp_path, forward, ahead, left):
    corners = np.concatenate([box(*ahead), box(*left)])
    layer = prediction_bev.BEVLayer(corners=corners, names=['car', 'pedestrian'])
    empty = prediction_bev.BEVLayer(corners=np.zeros((0, 8, 3)), names=[])
    out = tmp_path / 'bev.png'
    prediction_bev.render_prediction_bev(None, layer, empty, str(out), forward=forward)
    image = np.asarray(Image.open(out).convert('RGB'))
    centre = 360.0  # panel pixels
    col, row = colour_centroid(image, class_color('car'))
    assert row < centre - 80 and abs(col - centre) < 30  # ahead: above the ego
    col, row = colour_centroid(image, class_color('pedestrian'))
    assert col < centre - 80 and abs(row - centre) < 30  # left: left of the ego
