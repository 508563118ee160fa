"""Drive3D's registry nodes: children of mmdet3d's, under the scope ``mmdet3d_plugin``.

Configs set ``default_scope = 'mmdet3d_plugin'``. A name is looked up here first, then in
mmdet3d's registry (the parent), then in mmengine's root; ``'mmdet.ResNet'`` style names reach
mmdet. Registration is lazy: a registry imports its ``locations`` the first time it is queried.
mmengine never triggers a *parent's* lazy import during a child's lookup, so each child lists
the parent's locations after its own, so ``type='PointPillars'`` resolves under our scope
without importing anything by hand. A package of ours joins a registry's ``locations`` when it
registers something there.
"""
from mmdet3d import registry as mmdet3d_registry
from mmengine.registry import Registry

SCOPE = 'mmdet3d_plugin'


def _child(parent: Registry, *locations: str) -> Registry:
    """Return a child of ``parent`` in our scope that imports ``locations`` then the parent's."""
    return Registry(
        parent.name,
        parent=parent,
        scope=SCOPE,
        locations=list(locations) + list(parent._locations))


RUNNERS = _child(mmdet3d_registry.RUNNERS)
RUNNER_CONSTRUCTORS = _child(mmdet3d_registry.RUNNER_CONSTRUCTORS)
LOOPS = _child(mmdet3d_registry.LOOPS)
HOOKS = _child(mmdet3d_registry.HOOKS, 'mmdet3d_plugin.engine')
DATASETS = _child(mmdet3d_registry.DATASETS, 'mmdet3d_plugin.datasets')
DATA_SAMPLERS = _child(mmdet3d_registry.DATA_SAMPLERS, 'mmdet3d_plugin.datasets')
TRANSFORMS = _child(mmdet3d_registry.TRANSFORMS, 'mmdet3d_plugin.datasets')
MODELS = _child(mmdet3d_registry.MODELS, 'mmdet3d_plugin.ops.sparse', 'mmdet3d_plugin.models',
                'mmdet3d_plugin.metabev', 'mmdet3d_plugin.sparseocc')
MODEL_WRAPPERS = _child(mmdet3d_registry.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child(mmdet3d_registry.WEIGHT_INITIALIZERS)
OPTIMIZERS = _child(mmdet3d_registry.OPTIMIZERS)
OPTIM_WRAPPERS = _child(mmdet3d_registry.OPTIM_WRAPPERS, 'mmdet3d_plugin.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child(mmdet3d_registry.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child(mmdet3d_registry.PARAM_SCHEDULERS)
METRICS = _child(mmdet3d_registry.METRICS, 'mmdet3d_plugin.evaluation')
EVALUATOR = _child(mmdet3d_registry.EVALUATOR, 'mmdet3d_plugin.evaluation')
TASK_UTILS = _child(mmdet3d_registry.TASK_UTILS, 'mmdet3d_plugin.models',
                    'mmdet3d_plugin.sparseocc')
VISUALIZERS = _child(mmdet3d_registry.VISUALIZERS)
VISBACKENDS = _child(mmdet3d_registry.VISBACKENDS)
LOG_PROCESSORS = _child(mmdet3d_registry.LOG_PROCESSORS)
INFERENCERS = _child(mmdet3d_registry.INFERENCERS)

#: Names deliberately registered here although an ancestor registry has them too. Our spconv
#: layers choose the algorithm by device, so stock mmdet3d sparse encoders built under our scope
#: run on CPU as well as GPU (see ``mmdet3d_plugin.ops.sparse``). Our ``LoadPointsFromFile``
#: is mmdet3d's with checked reads (missing, truncated, NaN and empty files give errors naming
#: the file), so stock configs under our scope get the checks
#: (``mmdet3d_plugin.datasets.transforms.loading_points``). Our ``NuScenesMetric`` is mmdet3d's
#: scoring a split without any predicted box as mAP 0 / NDS 0 where the devkit raises
#: (``mmdet3d_plugin.evaluation.metrics.nuscenes_metric``).
INTENTIONAL_OVERRIDES = {
    'MODELS': ('SubMConv3d', 'SparseConv3d', 'SparseInverseConv3d'),
    'TRANSFORMS': ('LoadPointsFromFile', ),
    'METRICS': ('NuScenesMetric', ),
}

ALL_REGISTRIES = {
    name: value for name, value in globals().items() if isinstance(value, Registry)
}
