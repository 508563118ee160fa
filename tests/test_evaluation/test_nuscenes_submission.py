"""The nuScenes detection submission writer and validator
(mmdet3d_plugin.evaluation.submission): the written file loads with the devkit's own
``load_prediction`` and its zip holds it; a submission with a missing sample, more than 500
boxes in a sample, a NaN box or a wrong attribute is refused with the reason, and a refused
submission leaves no file behind."""
import copy
import json
import math
import zipfile

import pytest

from mmdet3d_plugin.evaluation.submission import (MAX_BOXES_PER_SAMPLE, SubmissionError,
                                                  keep_top_boxes, validate_detection_submission,
                                                  write_detection_submission)

TOKENS = [f'{i:032x}' for i in range(3)]
META = dict(use_camera=True, use_lidar=True, use_radar=False, use_map=False, use_external=False)


def box(token, score=0.5, name='car', attribute='vehicle.parked', **changes):
    result = dict(sample_token=token, translation=[600.0, 1600.0, 1.0], size=[1.9, 4.6, 1.7],
                  rotation=[1.0, 0.0, 0.0, 0.0], velocity=[0.5, 0.0], detection_name=name,
                  detection_score=score, attribute_name=attribute)
    result.update(changes)
    return result


def results(per_sample=2):
    """Each split sample with ``per_sample`` boxes (the last sample has none)."""
    out = {t: [box(t, score=0.1 + 0.01 * k) for k in range(per_sample)] for t in TOKENS[:-1]}
    out[TOKENS[-1]] = []
    return out


def write_file(path, results_, meta=META):
    path.write_text(json.dumps({'meta': meta, 'results': results_}))
    return str(path)


def refusal(tmp_path, results_, meta=META):
    with pytest.raises(SubmissionError) as info:
        validate_detection_submission(write_file(tmp_path / 'sub.json', results_, meta), TOKENS)
    return str(info.value)


def test_written_submission_loads_with_the_devkit_and_is_zipped(tmp_path):
    from nuscenes.eval.common.loaders import load_prediction
    from nuscenes.eval.detection.data_classes import DetectionBox
    mixed = results()
    mixed[TOKENS[0]] += [box(TOKENS[0], name='traffic_cone', attribute=''),
                         box(TOKENS[0], name='pedestrian', attribute='pedestrian.moving')]
    written = write_detection_submission(mixed, META, TOKENS, str(tmp_path / 'out'))
    assert written['samples'] == 3 and written['boxes'] == 6 and written['dropped'] == 0
    assert written['meta'] == META
    boxes, meta = load_prediction(written['json'], MAX_BOXES_PER_SAMPLE, DetectionBox)
    assert meta == META and set(boxes.sample_tokens) == set(TOKENS)
    assert len(boxes[TOKENS[-1]]) == 0 and len(boxes[TOKENS[0]]) == 4
    with zipfile.ZipFile(written['zip']) as archive:
        assert archive.namelist() == ['results_nusc.json']
        assert json.loads(archive.read('results_nusc.json')) == json.loads(
            open(written['json']).read())
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == [
        'results_nusc.json', 'results_nusc.zip']


def test_writer_keeps_the_500_best_boxes_of_a_sample(tmp_path):
    many = results()
    many[TOKENS[0]] = [box(TOKENS[0], score=(k % 700) / 1000.0) for k in range(700)]
    written = write_detection_submission(many, META, TOKENS, str(tmp_path))
    assert written['dropped'] == 200 and written['max_boxes_per_sample'] == 500
    kept = json.load(open(written['json']))['results'][TOKENS[0]]
    assert len(kept) == 500 and min(b['detection_score'] for b in kept) == 0.2
    assert keep_top_boxes({'a': [box('a', 0.3), box('a', 0.9)]}, 1)['a'][0]['detection_score'] \
        == 0.9


def test_missing_sample_is_refused_and_named(tmp_path):
    partial = results()
    del partial[TOKENS[1]]
    message = refusal(tmp_path, partial)
    assert '1 of the 3 sample tokens of the split are missing from results' in message
    assert TOKENS[1] in message and 'sub.json refused' in message
    # the writer refuses too, and leaves nothing behind
    with pytest.raises(SubmissionError, match='missing from results'):
        write_detection_submission(partial, META, TOKENS, str(tmp_path / 'out'))
    assert list((tmp_path / 'out').iterdir()) == []


def test_more_than_500_boxes_is_refused(tmp_path):
    crowded = results()
    crowded[TOKENS[0]] = [box(TOKENS[0]) for _ in range(MAX_BOXES_PER_SAMPLE + 1)]
    message = refusal(tmp_path, crowded)
    assert '1 sample(s) have more than 500 boxes' in message
    assert f'{TOKENS[0]} (501 boxes)' in message


@pytest.mark.parametrize('field,value,reason', [
    ('translation', [math.nan, 0.0, 0.0], 'translation has NaN/inf'),
    ('size', [1.0, math.inf, 1.0], 'size has NaN/inf'),
    ('rotation', [math.nan, 0.0, 0.0, 1.0], 'rotation has NaN/inf'),
    ('velocity', [0.0, math.nan], 'velocity has NaN/inf'),
    ('detection_score', math.nan, 'detection_score must be a float in [0, 1], got nan'),
    ('size', [1.0, 0.0, 1.0], 'size must be positive'),
    ('rotation', [0.0, 0.0, 0.0, 0.0], 'zero quaternion'),
    ('detection_score', 1, 'detection_score must be a float in [0, 1], got 1'),
    ('translation', [1.0, 2.0], 'translation must be a list of 3 numbers'),
])
def test_nan_or_malformed_box_is_refused(tmp_path, field, value, reason):
    bad = results()
    bad[TOKENS[0]][1][field] = value
    message = refusal(tmp_path, bad)
    assert '1 invalid box(es)' in message and f'sample {TOKENS[0]} box 1: ' in message
    assert reason in message


def test_class_attribute_meta_and_tokens_are_checked(tmp_path):
    bad = results()
    bad[TOKENS[0]][0] = box(TOKENS[0], attribute='pedestrian.moving')
    bad[TOKENS[0]][1] = box(TOKENS[0], name='van')
    message = refusal(tmp_path, bad)
    assert "attribute_name 'pedestrian.moving' is not allowed for 'car'" in message
    assert "detection_name 'van' is not one of" in message
    assert "'' is not allowed for 'car'" in refusal(tmp_path, {
        **results(), TOKENS[0]: [box(TOKENS[0], attribute='')]})
    assert "'cycle.with_rider' is not allowed for 'barrier'" in refusal(tmp_path, {
        **results(), TOKENS[0]: [box(TOKENS[0], name='barrier', attribute='cycle.with_rider')]})
    assert 'meta must map exactly' in refusal(tmp_path, results(), {'use_camera': True})
    extra = dict(results(), **{'f' * 32: []})
    assert "1 sample token(s) in results are not in the split: " + 'f' * 32 in refusal(
        tmp_path, extra)
    listed = copy.deepcopy(results())
    listed[TOKENS[0]][0]['sample_token'] = TOKENS[1]
    assert 'is listed under' in refusal(tmp_path, listed)
    (tmp_path / 'flat.json').write_text(json.dumps(results()))
    with pytest.raises(SubmissionError, match=r"exactly the keys \['meta', 'results'\]"):
        validate_detection_submission(str(tmp_path / 'flat.json'), TOKENS)
    (tmp_path / 'broken.json').write_text('{"meta": ')
    with pytest.raises(SubmissionError, match='cannot read it as JSON'):
        validate_detection_submission(str(tmp_path / 'broken.json'), TOKENS)
