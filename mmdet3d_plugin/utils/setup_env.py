"""Register every Drive3D module (and mmdet3d's) and set the default scope."""
import datetime
import importlib
import warnings

from mmengine import DefaultScope

from ..registry import SCOPE

#: Every package of Drive3D that registers modules; extended as methods are added.
REGISTERING_PACKAGES = ('mmdet3d_plugin.ops.sparse', 'mmdet3d_plugin.engine',
                        'mmdet3d_plugin.datasets', 'mmdet3d_plugin.evaluation',
                        'mmdet3d_plugin.models', 'mmdet3d_plugin.metabev',
                        'mmdet3d_plugin.sparseocc')


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import mmdet3d's and Drive3D's modules so they are in their registries.

    Args:
        init_default_scope (bool): Make ``'mmdet3d_plugin'`` the default scope, as configs do
            with ``default_scope = 'mmdet3d_plugin'``. If another scope is current, a new
            scope instance is created and a warning says so (as mmdet3d does).
    """
    from mmdet3d.utils import register_all_modules as register_mmdet3d
    register_mmdet3d(init_default_scope=False)
    for package in REGISTERING_PACKAGES:
        importlib.import_module(package)
    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or not DefaultScope.check_instance_created(SCOPE):
        DefaultScope.get_instance(SCOPE, scope_name=SCOPE)
    elif current.scope_name != SCOPE:
        warnings.warn(f'The current default scope "{current.scope_name}" is not "{SCOPE}"; '
                      f'register_all_modules creates a new default scope.')
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S.%f')
        DefaultScope.get_instance(f'{SCOPE}-{stamp}', scope_name=SCOPE)
