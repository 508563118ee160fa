"""No evaluation pipeline of any config draws from the global random state, also with a
corruption of the robustness study inserted; the checker itself flags what it should."""
from pathlib import Path

import pytest
from mmengine.config import Config
from randomness_rules import RULES, global_rng_calls, random_transforms, transform_class

from mmdet3d_plugin.robustness.pipeline_insert import insert_corruption
from mmdet3d_plugin.robustness.settings import all_settings

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / 'configs').rglob('*.py'))


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO / 'configs'))


def _dataset_pipeline(dataset) -> list:
    """The pipeline of a dataset config, through dataset wrappers (``dataset=dict(...)``)."""
    while dataset is not None:
        if 'pipeline' in dataset:
            return dataset['pipeline']
        dataset = dataset.get('dataset')
    return None


def evaluation_pipelines(cfg: Config) -> dict:
    """``{where: pipeline}`` of the test/val dataloaders and the test/val pipeline variables."""
    found = {}
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        pipeline = _dataset_pipeline(loader.get('dataset')) if loader else None
        if pipeline is not None:
            found[f'{key}.dataset.pipeline'] = pipeline
    for key in ('test_pipeline', 'val_pipeline'):
        if cfg.get(key) is not None:
            found[key] = cfg[key]
    return found


@pytest.mark.parametrize('config', CONFIGS, ids=_rel)
def test_no_evaluation_pipeline_draws_from_the_global_rng(config):
    pipelines = evaluation_pipelines(Config.fromfile(str(config)))
    problems = [f'{where}{line}' for where, pipeline in pipelines.items()
                for line in random_transforms(pipeline)]
    assert not problems, f'{_rel(config)}: random transforms in evaluation:\n' + '\n'.join(
        problems)


def test_every_method_and_dataset_config_has_an_evaluation_pipeline():
    checked = [c for c in CONFIGS if evaluation_pipelines(Config.fromfile(str(c)))]
    method_configs = [c for c in CONFIGS if '_base_' not in c.parts]
    assert set(method_configs) <= set(checked)
    assert len([c for c in checked if 'datasets' in c.parts]) >= 3


@pytest.mark.parametrize('config', [c for c in CONFIGS if '_base_' not in c.parts], ids=_rel)
def test_corruptions_of_the_robustness_study_add_no_global_randomness(config):
    pipeline = Config.fromfile(str(config)).test_dataloader.dataset.pipeline
    checked = 0
    for setting in all_settings():
        insertion = insert_corruption(pipeline, setting)
        if insertion.applicable:
            problems = random_transforms(insertion.pipeline)
            assert not problems, f'{setting}: {problems}'
            checked += 1
    assert checked > 1


# ---------------------------------------------------------------------- the checker
@pytest.mark.parametrize('transform', [
    dict(type='LoadSweepsWithRing', sweeps_num=10),
    dict(type='mmdet3d.LoadPointsFromMultiSweeps', sweeps_num=10, test_mode=False),
    dict(type='ImageAug3D', final_dim=(128, 352), resize_lim=(0.9, 1.0), is_train=True),
    dict(type='GlobalAugmentAll'),
    dict(type='GlobalAugmentAll', rot_range=(0, 0), scale_ratio_range=(1, 1),
         flip_ratio_bev_horizontal=0.5),
    dict(type='GlobalRotScaleTrans'),
    dict(type='GlobalRotScaleTrans', rot_range=0.3),
    dict(type='GlobalRotScaleTrans', rot_range=[0, 0], scale_ratio_range=[1, 1],
         translation_std=[0, 0, 0.2]),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5),
    dict(type='OccupancyFrame', flip_y_ratio=0.5),
    dict(type='PointShuffle'),
    dict(type='FastPointShuffle'),
    dict(type='ObjectNoise'),  # no rule: found by its code
    dict(type='RandomJitterPoints'),
], ids=lambda t: t['type'])
def test_the_checker_flags_random_transforms(transform):
    nested = [dict(type='MultiScaleFlipAug3D', img_scale=(1333, 800), pts_scale_ratio=1,
                   flip=False, transforms=[transform])]
    for pipeline in ([transform], nested):
        assert random_transforms(pipeline), transform


@pytest.mark.parametrize('transform', [
    dict(type='LoadSweepsWithRing', sweeps_num=10, test_mode=True),
    dict(type='LoadPointsFromMultiSweeps', sweeps_num=10, test_mode=True),
    dict(type='ImageAug3D', final_dim=(128, 352), resize_lim=(0.9, 1.0), rot_lim=(-5, 5),
         rand_flip=True, is_train=False),
    dict(type='GlobalAugmentAll', seed=3),
    dict(type='GlobalAugmentAll', test_mode=True, flip_ratio_bev_vertical=0.5),
    dict(type='GlobalRotScaleTrans', rot_range=[0, 0], scale_ratio_range=[1., 1.],
         translation_std=[0, 0, 0]),
    dict(type='RandomFlip3D'),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=1.0),
    dict(type='OccupancyFrame'),
    dict(type='OccupancyFrame', flip_x_ratio=1.0),
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    dict(type='LoadMultiViewImages'),
    dict(type='LoadBEVMapGT'),
    dict(type='FastPointsRangeFilter', point_cloud_range=[-1, -1, -1, 1, 1, 1]),
    dict(type='ViewNoise', num_views=2),  # seeded per sample
    dict(type='MissingObjects', drop_rate=0.5),
    dict(type='Pack3DDetBEVInputs', keys=['points']),
], ids=lambda t: t['type'])
def test_the_checker_passes_deterministic_transforms(transform):
    assert not random_transforms([transform])


def test_every_rule_is_about_a_transform_whose_code_draws_from_the_global_rng():
    # PointShuffle's draw is in BasePoints.shuffle (a points method the scan does not follow)
    for name in sorted(set(RULES) - {'PointShuffle'}):
        assert global_rng_calls(transform_class(dict(type=name))), name
