"""Reading metric inputs out of dicts and data elements."""
import numpy as np
import pytest
import torch
from mmdet3d.structures import Det3DDataSample

from mmdet3d_plugin.evaluation.metrics.sample_fields import get_array, get_field
from mmdet3d_plugin.registry import METRICS


def test_dotted_paths_and_eval_ann_info_fallback():
    sample = dict(pred=dict(occ=np.zeros(2)), eval_ann_info=dict(gt_occ=torch.ones(2)))
    assert get_field(sample, 'pred.occ').shape == (2, )
    np.testing.assert_array_equal(get_array(sample, 'gt_occ'), [1, 1])
    np.testing.assert_array_equal(get_array(sample, 'eval_ann_info.gt_occ'), [1, 1])


def test_data_elements_are_read_like_dicts():
    sample = Det3DDataSample(metainfo=dict(sample_idx=3))
    sample.pred_occ = torch.zeros(2, 2)
    assert get_array(sample, 'pred_occ').shape == (2, 2)
    assert get_field(sample, 'sample_idx') == 3
    with pytest.raises(KeyError, match=r"no field 'gt_occ'.*'pred_occ'.*'sample_idx'"):
        get_field(sample, 'gt_occ')


def test_metric_processes_data_elements_directly():
    sample = Det3DDataSample()
    sample.pred_occ = torch.tensor([1, 2, 0])
    sample.gt_occ = torch.tensor([1, 2, 2])
    metric = METRICS.build(dict(type='SSCMetric', num_classes=3, class_names=('free', 'a', 'b')))
    metric.process(None, [sample])
    results = metric.compute_metrics(metric.results)
    assert results['SSC_IoU_a'] == 100.0 and results['SSC_IoU_b'] == 50.0
    assert results['SC_IoU'] == pytest.approx(200 / 3, rel=1e-15)
