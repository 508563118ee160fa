"""Registry: importing everything at once, unique names, lookups through the default scope."""
import importlib
import pkgutil
import subprocess
import sys

import pytest
import torch
from mmengine.registry import DefaultScope

import mmdet3d_plugin
from mmdet3d_plugin import registry as ours


def all_module_names():
    return sorted(m.name for m in pkgutil.walk_packages(mmdet3d_plugin.__path__, 'mmdet3d_plugin.'))


def ancestors(registry):
    parent = registry.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def test_importing_every_module_at_once_has_no_clash():
    # mmengine raises KeyError when a name is registered twice in one registry.
    names = all_module_names()
    assert len(names) > 10
    for name in names:
        importlib.import_module(name)


def test_names_unique_across_registries_and_overrides_documented():
    seen = {}
    for reg_name, registry in ours.ALL_REGISTRIES.items():
        for name in registry.module_dict:
            assert name not in seen, f'{name} registered in both {seen[name]} and {reg_name}'
            seen[name] = reg_name
            shadowed = [p.scope for p in ancestors(registry) if name in p.module_dict]
            allowed = ours.INTENTIONAL_OVERRIDES.get(reg_name, ())
            assert not shadowed or name in allowed, (
                f'{reg_name}.{name} shadows the same name in {shadowed}; rename it or list it '
                'in registry.INTENTIONAL_OVERRIDES')
    assert seen, 'nothing is registered in the mmdet3d_plugin scope'


def test_every_registered_name_resolves_through_the_default_scope():
    for reg_name, registry in ours.ALL_REGISTRIES.items():
        root = registry._get_root_registry()
        with DefaultScope.overwrite_default_scope(ours.SCOPE):
            with root.switch_scope_and_registry(None) as scoped:
                assert scoped is registry, reg_name
                for name, cls in registry.module_dict.items():
                    assert scoped.get(name) is cls
                    assert scoped.get(f'{ours.SCOPE}.{name}') is cls


@pytest.mark.parametrize('registry_name, name, scope', [
    ('MODELS', 'VoxelNet', 'mmdet3d'),
    ('MODELS', 'PointPillarsScatter', 'mmdet3d'),
    ('MODELS', 'mmdet.ResNet', 'mmdet'),
    ('MODELS', 'mmdet.FocalLoss', 'mmdet'),
    ('TRANSFORMS', 'LoadPointsFromMultiSweeps', 'mmdet3d'),
    ('DATASETS', 'NuScenesDataset', 'mmdet3d'),
    ('METRICS', 'NuScenesMetric', 'mmdet3d'),
    ('TASK_UTILS', 'mmdet.MaxIoUAssigner', 'mmdet'),
])
def test_mmdet3d_and_mmdet_names_still_resolve(registry_name, name, scope):
    cls = getattr(ours, registry_name).get(name)
    assert cls is not None and cls.__module__.startswith(scope)


def test_building_through_the_root_registry_reaches_mmdet_and_our_modules():
    from mmengine.registry import MODELS as ROOT
    with DefaultScope.overwrite_default_scope(ours.SCOPE):
        resnet = ROOT.build(dict(type='mmdet.ResNet', depth=18, num_stages=1, strides=(1, ),
                                 dilations=(1, ), out_indices=(0, )))
        neck = ROOT.build(dict(type='SECONDFPN', in_channels=[8], out_channels=[4],
                               upsample_strides=[1]))
        conv = ROOT.build(dict(type='SubMConv3d', in_channels=2, out_channels=2, kernel_size=3))
    assert resnet(torch.rand(1, 3, 32, 32))[0].shape == (1, 64, 8, 8)
    assert neck([torch.rand(1, 8, 6, 6)])[0].shape == (1, 4, 6, 6)
    assert type(conv).__module__ == 'mmdet3d_plugin.ops.sparse.layers'


def test_lazy_registration_in_a_fresh_interpreter():
    """Without register_all_modules, a lookup imports our modules and mmdet3d's (locations)."""
    code = ('from mmdet3d_plugin.registry import MODELS, OPTIM_WRAPPERS; '
            "print(MODELS.get('SubMConv3d').__module__, MODELS.get('VoxelNet').__module__, "
            "OPTIM_WRAPPERS.get('AutocastOptimWrapper').__name__)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ['mmdet3d_plugin.ops.sparse.layers',
                                  'mmdet3d.models.detectors.voxelnet',
                                  'AutocastOptimWrapper']
