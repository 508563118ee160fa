"""Settings of a robustness study: enumeration from CORRUPTION_SUITE, selection and parsing."""
import pytest

from mmdet3d_plugin.datasets.transforms.corruptions import CORRUPTION_SUITE, build_corruption
from mmdet3d_plugin.robustness.settings import (ALL_CORRUPTIONS, Setting, all_settings,
                                                parse_severities, quick_settings, select_settings)


def names(settings):
    return [setting.name for setting in settings]


def test_all_settings_cover_every_corruption_at_every_severity_once():
    settings = all_settings()
    assert settings[0] == Setting() and settings[0].is_clean and settings[0].transform() is None
    expected = [(name, severity) for name, severities in CORRUPTION_SUITE.items()
                for severity in severities]
    assert [(s.corruption, s.severity) for s in settings[1:]] == expected
    assert len(settings) == 1 + sum(len(v) for v in CORRUPTION_SUITE.values()) == 31
    assert len(set(names(settings))) == len(settings)  # names are unique file names
    assert all('/' not in name and ' ' not in name for name in names(settings))
    for setting in settings[1:]:
        assert setting.transform(seed=3) == build_corruption(setting.corruption,
                                                             setting.severity, seed=3)


def test_setting_names():
    assert Setting().name == 'clean'
    assert Setting('beam_reduction', 16).name == 'beam_reduction-16'
    assert Setting('missing_objects', 0.5).name == 'missing_objects-0.5'
    assert Setting('missing_objects', 1.0).name == 'missing_objects-1.0'
    assert Setting('missing_lidar').name == 'missing_lidar'


def test_quick_preset_is_clean_missing_sensors_and_one_middle_severity_each():
    assert names(quick_settings()) == [
        'clean', 'missing_lidar', 'missing_camera', 'limited_field-90', 'obstacle_occlusion',
        'missing_objects-0.5', 'beam_reduction-8', 'view_drop-4', 'view_noise-4']
    assert names(select_settings(quick=True)) == names(quick_settings())
    assert names(select_settings(['view_drop', 'missing_lidar'], quick=True)) == [
        'clean', 'missing_lidar', 'view_drop-4']


def test_select_a_subset_keeps_clean_and_the_suite_order():
    chosen = select_settings(['missing_objects', 'beam_reduction'])
    assert names(chosen) == ['clean'] + [f'missing_objects-{v!r}' for v in
                                         CORRUPTION_SUITE['missing_objects']] + [
        f'beam_reduction-{v}' for v in CORRUPTION_SUITE['beam_reduction']]
    assert names(select_settings(['missing_camera'])) == ['clean', 'missing_camera']


def test_unknown_corruption_names_are_listed_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown corruption name\(s\) \['fog'\].*beam_reduction"):
        select_settings(['beam_reduction', 'fog'])


def test_severities_per_corruption_and_for_all():
    parsed = parse_severities(['beam_reduction=16,4', 'missing_objects=1', '4'])
    assert parsed == {'beam_reduction': [16, 4], 'missing_objects': [1], ALL_CORRUPTIONS: [4]}
    chosen = select_settings(['beam_reduction', 'missing_objects', 'missing_lidar'],
                             parse_severities(['beam_reduction=16,4', 'missing_objects=1']))
    assert names(chosen) == ['clean', 'missing_objects-1.0', 'beam_reduction-16',
                             'beam_reduction-4', 'missing_lidar']
    chosen = select_settings(['view_drop', 'view_noise', 'beam_reduction'],
                             parse_severities(['4']))
    assert names(chosen) == ['clean', 'beam_reduction-4', 'view_drop-4', 'view_noise-4']


@pytest.mark.parametrize('corruptions, tokens, message', [
    (['beam_reduction'], ['beam_reduction=3'], r'3 is not a severity.*\[32, 16, 8, 4, 1\]'),
    (['beam_reduction', 'view_drop'], ['6'], r"leaves no severity of \['beam_reduction'\]"),
    (['view_drop'], ['beam_reduction=4'], "restricts 'beam_reduction', which is not among"),
])
def test_invalid_severities_name_the_valid_ones(corruptions, tokens, message):
    with pytest.raises(ValueError, match=message):
        select_settings(corruptions, parse_severities(tokens))


def test_bad_severity_tokens_and_quick_with_severities():
    with pytest.raises(ValueError, match="'beam_reduction=x' is not a number"):
        parse_severities(['beam_reduction=x'])
    with pytest.raises(ValueError, match='unknown corruption'):
        parse_severities(['fog=1'])
    with pytest.raises(ValueError, match='--quick'):
        select_settings(quick=True, severities={'beam_reduction': [4]})
