"""BEVFusion and MetaBEV detectors (tiny synthetic models): loss/predict with every sensor set."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdet3d_plugin.registry import MODELS
from mmdet3d_plugin.testing import make_batch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODEL_CONFIGS = {
    'bevfusion': 'configs/bevfusion/bevfusion_lidar-cam_tiny_1xb2-cpu_synthetic.py',
    'metabev': 'configs/metabev/metabev_lidar-cam_tiny_1xb2-cpu_synthetic.py',
}


def _build(name, **overrides):
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(REPO, MODEL_CONFIGS[name])).model
    detector = MODELS.build(dict(cfg, **overrides))
    detector.init_weights()
    return detector


@pytest.fixture(scope='module', params=sorted(MODEL_CONFIGS))
def model(request):
    return _build(request.param)


def _run(model, training, **batch_kwargs):
    data = model.data_preprocessor(make_batch(**batch_kwargs), training=training)
    if training:
        model.train()
        return model(**data, mode='loss')
    model.eval()
    with torch.no_grad():
        return model(**data, mode='predict')


def test_loss_has_detection_and_map_terms_and_backpropagates(model):
    losses = _run(model, True)
    map_terms = {f'loss_map_{name}' for name in model.seg_head.classes}
    assert {'task0.loss_heatmap', 'task0.loss_bbox'} | map_terms <= set(losses)
    total = sum(v for v in losses.values())
    assert torch.isfinite(total)
    model.zero_grad()
    total.backward()
    grads = [p.grad for p in model.img_backbone.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize('sensors', ['both', 'camera', 'lidar'])
def test_predict_with_any_sensor_set(model, sensors):
    results = _run(model, False, with_imgs=sensors != 'lidar', with_points=sensors != 'camera')
    assert len(results) == 2
    for sample in results:
        boxes = sample.pred_instances_3d
        assert boxes.bboxes_3d.tensor.shape[1] == 9
        assert boxes.scores_3d.shape == boxes.labels_3d.shape == (len(boxes.bboxes_3d), )
        assert sample.masks_bev.shape == (6, 200, 200)
        assert 0 <= sample.masks_bev.min() and sample.masks_bev.max() <= 1


def test_empty_point_cloud_and_frame_without_boxes(model):
    losses = _run(model, True, point_counts=[0, 3000], num_boxes=(0, 2))
    assert all(torch.isfinite(v) for v in losses.values())
    losses = _run(model, True, point_counts=[0, 0], num_boxes=(1, 0))
    assert all(torch.isfinite(v) for v in losses.values())
    results = _run(model, False, point_counts=[0, 0])
    assert results[0].masks_bev.shape == (6, 200, 200)


def test_flagged_missing_sensor_equals_absent_sensor(model):
    """A corruption's ``lidar_missing`` flag and a batch without points give the same output."""
    batch = make_batch(batch_size=1, seed=3)
    without_points = dict(inputs=dict(img=batch['inputs']['img']),
                          data_samples=make_batch(batch_size=1, seed=3)['data_samples'])
    for sample in batch['data_samples']:
        sample.set_metainfo(dict(lidar_missing=True))
    model.eval()
    with torch.no_grad():
        flagged = model(**model.data_preprocessor(batch, training=False), mode='predict')
        absent = model(**model.data_preprocessor(without_points, training=False),
                       mode='predict')
    torch.testing.assert_close(flagged[0].masks_bev, absent[0].masks_bev)


def test_init_weights_reaches_heads_in_plain_module_lists(model):
    """CenterHead keeps its task heads in a torch ModuleList, which mmengine does not descend."""
    for task_head in model.bbox_head.task_heads:
        bias = task_head.heatmap[-1].bias
        torch.testing.assert_close(bias, torch.full_like(bias, -2.19))


@pytest.mark.parametrize('name', sorted(MODEL_CONFIGS))
def test_camera_always_dropped_leaves_the_image_backbone_without_gradient(name):
    """``modality_drop=(p_camera, p_lidar) = (1, 0)``: every sample (all have points) trains on
    LiDAR alone, so no gradient reaches the camera branch, while the LiDAR branch learns."""
    detector = _build(name, modality_drop=(1.0, 0.0))
    losses = _run(detector, True)
    detector.zero_grad(set_to_none=True)
    sum(losses.values()).backward()
    for module in (detector.img_backbone, detector.img_neck, detector.view_transform):
        for param_name, param in module.named_parameters():
            assert param.grad is None or param.grad.abs().max() == 0, param_name
    lidar_grads = [p.grad for p in detector.pts_middle_encoder.parameters() if p.grad is not None]
    assert lidar_grads and any(g.abs().sum() > 0 for g in lidar_grads)


def test_depth_loss_uses_the_packed_lidar_depth_even_when_the_lidar_is_dropped():
    """``gt_depth`` is supervision, not input: with the LiDAR always dropped the depth loss is
    still there; a camera flagged missing is not supervised; gradients reach the depth net."""
    detector = _build('bevfusion', modality_drop=(0.0, 1.0))
    assert detector.with_depth_loss
    batch = make_batch(seed=1)
    gt = torch.zeros(6, 16, 44)
    gt[:, ::2, ::2] = 20.0
    for sample in batch['data_samples']:
        sample.gt_depth = gt.clone()
    losses = _run(detector, True, seed=1)  # no gt_depth packed: no supervision, but finite
    assert losses['loss_depth'].item() == 0.0
    data = detector.data_preprocessor(batch, training=True)
    losses = detector(**data, mode='loss')
    assert torch.isfinite(losses['loss_depth']) and losses['loss_depth'].item() > 0
    detector.zero_grad(set_to_none=True)
    losses['loss_depth'].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in detector.view_transform.depth_net.parameters())
    for sample in data['data_samples']:
        sample.set_metainfo(dict(camera_missing=True))
    camera_missing = detector.depth_loss(torch.full((2, 6, 59, 16, 44), 1 / 59),
                                         data['data_samples'])
    assert camera_missing.item() == 0.0
