"""Layer rules of the code base, checked on the import statements of every module.

Layers are the top-level packages of ``mmdet3d_plugin``:

* ``structures``: data conventions (grids, class and label names); imports nothing else of
  ``mmdet3d_plugin``.
* Method folders (:data:`METHOD_PACKAGES`, one per 3D method): import shared layers only,
  never another method folder.
* Shared layers: every other package and module of ``mmdet3d_plugin`` (``datasets``, ``models``,
  ``evaluation``, ``registry``, ...); never import a method folder. The registries name method
  packages as strings (lazy ``locations``, ``REGISTERING_PACKAGES``): that is composition, not
  an import, and is not checked.
* ``synthetic``: the synthetic world; imports shared layers, never a method folder.
* ``testing``: test support (random batches with the nuScenes rig); may use the synthetic
  world; imported only by ``tests/`` and ``benchmarks/``.

Nothing outside ``synthetic/`` imports ``mmdet3d_plugin.synthetic`` except ``testing/``, the
tools that build worlds (:data:`WORLD_BUILDERS`) and ``tests/`` (not scanned): real-data code
never depends on the synthetic world. Projects (``projects/<name>/``, when they exist) never
import each other, a method folder, ``synthetic`` or ``testing`` (their own ``tests/``
excepted), and ``mmdet3d_plugin`` never imports ``projects``.

Every import counts: module level, function level, ``from X import name`` (``name`` may be a
submodule), relative imports, and ``importlib.import_module`` / ``__import__`` of a literal name.
"""
import ast
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = 'mmdet3d_plugin'
PROJECTS = 'projects'
#: Method folders of mmdet3d_plugin, present and planned.
METHOD_PACKAGES = ('metabev', 'sparseocc', 'occgen', 'veon', 'reliocc', 'litefusion', 'gsp',
                   'slf')
STRUCTURES, SYNTHETIC, TESTING = 'structures', 'synthetic', 'testing'
#: Scripts allowed to import the synthetic world (they build worlds).
WORLD_BUILDERS = ('tools/create_data.py', 'tools/demo.py', 'benchmarks/pipeline.py')
SCANNED = (PACKAGE, 'tools', 'benchmarks', PROJECTS)
IMPORT_CALLS = ('import_module', '__import__')


def module_of(rel_path: str) -> Tuple[str, bool]:
    """Dotted module name of a repository-relative ``.py`` path and whether it is a package."""
    parts = list(Path(rel_path).with_suffix('').parts)
    is_package = parts[-1] == '__init__'
    if is_package:
        parts.pop()
    return '.'.join(parts), is_package


def imported_names(source: str, rel_path: str) -> Iterator[Tuple[int, str]]:
    """``(line, absolute dotted name)`` of everything ``source`` (the file ``rel_path``) imports.

    ``from a.b import c`` yields both ``a.b`` and ``a.b.c`` (``c`` may be a submodule).
    """
    module, is_package = module_of(rel_path)
    package = module if is_package else module.rpartition('.')[0]
    for node in ast.walk(ast.parse(source, filename=rel_path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.') if package else []
                if node.level - 1 > len(parts) - 1:
                    raise ValueError(f'{rel_path}:{node.lineno}: relative import beyond the '
                                     f'top-level package')
                anchor = '.'.join(parts[:len(parts) - (node.level - 1)])
                base = f'{anchor}.{base}' if base else anchor
            yield node.lineno, base
            for alias in node.names:
                if alias.name != '*':
                    yield node.lineno, f'{base}.{alias.name}'
        elif isinstance(node, ast.Call) and _call_name(node.func) in IMPORT_CALLS:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and (
                    not first.value.startswith('.')):
                yield node.lineno, first.value


def _call_name(func: ast.expr) -> Optional[str]:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def layer_of(name: str) -> Optional[Tuple[str, Optional[str]]]:
    """``('plugin', top-level package)`` or ``('project', name)`` of a dotted module name
    (``None`` for third-party modules; the package root itself has top-level ``None``)."""
    parts = name.split('.')
    if parts[0] == PACKAGE:
        return 'plugin', parts[1] if len(parts) > 1 else None
    if parts[0] == PROJECTS and len(parts) > 1:
        return 'project', parts[1]
    return None


def _plugin_rule(top: Optional[str], target: Tuple[str, Optional[str]]) -> Optional[str]:
    """The rule a module of ``mmdet3d_plugin.<top>`` breaks by importing ``target``."""
    kind, other = target
    if kind == 'project':
        return 'mmdet3d_plugin never imports projects'
    if other is None or other == top:
        return None
    if top == STRUCTURES:
        return 'structures imports nothing else of mmdet3d_plugin'
    if other in METHOD_PACKAGES:
        if top in METHOD_PACKAGES:
            return 'a method folder never imports another method folder'
        return 'layers outside the method folders never import a method folder'
    if other == SYNTHETIC and top != TESTING:
        return 'only synthetic/, testing/ and the world-building tools import the synthetic world'
    if other == TESTING:
        return 'mmdet3d_plugin.testing is imported only by tests/ and benchmarks/'
    return None


def _project_rule(project: str, rel_path: str, target: Tuple[str, Optional[str]]) -> Optional[str]:
    kind, other = target
    if kind == 'project':
        return None if other == project else 'a project never imports another project'
    if other in METHOD_PACKAGES:
        return "a project never imports mmdet3d_plugin's method folders"
    if other in (SYNTHETIC, TESTING) and 'tests' not in Path(rel_path).parts:
        return f'project code never imports mmdet3d_plugin.{other}'
    return None


def _script_rule(rel_path: str, target: Tuple[str, Optional[str]]) -> Optional[str]:
    kind, other = target
    if kind == 'plugin' and other == SYNTHETIC and rel_path not in WORLD_BUILDERS:
        return 'only synthetic/, testing/ and the world-building tools import the synthetic world'
    if kind == 'plugin' and other == TESTING and not rel_path.startswith('benchmarks/'):
        return 'mmdet3d_plugin.testing is imported only by tests/ and benchmarks/'
    return None


def violations(rel_path: str, source: str) -> List[str]:
    """Every layer rule ``source`` (the file at repository-relative ``rel_path``) breaks, as
    ``'path:line: rule (imports name)'``, once per import statement and imported layer."""
    where = layer_of(module_of(rel_path)[0])
    found, seen = [], set()
    for line, name in imported_names(source, rel_path):
        target = layer_of(name)
        if target is None or (line, target) in seen:
            continue
        seen.add((line, target))
        if where is None:
            rule = _script_rule(rel_path, target)
        elif where[0] == 'plugin':
            rule = _plugin_rule(where[1], target)
        else:
            rule = _project_rule(where[1], rel_path, target)
        if rule:
            found.append(f'{rel_path}:{line}: {rule} (imports {name})')
    return found


def scanned_files() -> List[str]:
    files = []
    for root in SCANNED:
        for path in sorted((REPO / root).rglob('*.py')) if (REPO / root).is_dir() else ():
            rel = path.relative_to(REPO).as_posix()
            if '__pycache__' not in rel and '/csrc/' not in rel:
                files.append(rel)
    return files


def test_the_code_base_keeps_the_layer_rules():
    files = scanned_files()
    assert f'{PACKAGE}/datasets/transforms/loading_occupancy.py' in files
    assert len(files) > 100
    found = []
    for rel in files:
        found += violations(rel, (REPO / rel).read_text(encoding='utf-8'))
    assert not found, 'layer rules broken:\n' + '\n'.join(found)


@pytest.mark.parametrize('rel_path, source, rule', [
    ('mmdet3d_plugin/datasets/transforms/x.py',
     'from mmdet3d_plugin.synthetic.occupancy import OccupancyGrid', 'synthetic world'),
    ('mmdet3d_plugin/datasets/transforms/x.py', 'def load():\n    from ...synthetic import rig',
     'synthetic world'),
    ('mmdet3d_plugin/evaluation/x.py', 'from mmdet3d_plugin import synthetic', 'synthetic world'),
    ('mmdet3d_plugin/evaluation/x.py', 'import mmdet3d_plugin.synthetic.rig as rig',
     'synthetic world'),
    ('mmdet3d_plugin/utils/x.py',
     "import importlib\nimportlib.import_module('mmdet3d_plugin.synthetic')", 'synthetic world'),
    ('mmdet3d_plugin/models/heads/x.py', 'def f():\n    from ...metabev.layers import y',
     'never import a method folder'),
    ('mmdet3d_plugin/synthetic/x.py', 'from ..metabev import y', 'never import a method folder'),
    ('mmdet3d_plugin/sparseocc/heads/x.py', 'from ...metabev import decoder',
     'another method folder'),
    ('mmdet3d_plugin/structures/x.py', 'from ..utils.atomic_io import atomic_path',
     'structures imports nothing else'),
    ('mmdet3d_plugin/models/x.py', 'from mmdet3d_plugin.testing import make_batch',
     'testing is imported only'),
    ('mmdet3d_plugin/models/x.py', 'import projects.Foo.foo', 'never imports projects'),
    ('tools/train.py', 'from mmdet3d_plugin.synthetic import WorldConfig', 'synthetic world'),
    ('tools/train.py', 'from mmdet3d_plugin.testing import make_batch', 'testing is imported'),
    ('projects/Foo/foo/model.py', 'from projects.Bar.bar import Head', 'another project'),
    ('projects/Foo/foo/model.py', 'from mmdet3d_plugin.metabev import MetaBEV',
     "method folders"),
    ('projects/Foo/foo/model.py', 'from mmdet3d_plugin.synthetic import WorldConfig',
     'never imports mmdet3d_plugin.synthetic'),
])
def test_the_checker_catches_violations(rel_path, source, rule):
    found = violations(rel_path, source)
    assert len(found) == 1 and rule in found[0], found
    assert found[0].startswith(f'{rel_path}:{source.count(chr(10)) + 1}:')


@pytest.mark.parametrize('rel_path, source', [
    ('mmdet3d_plugin/metabev/x.py', 'from ..models.heads import BEVMapSegHead\nfrom . import y'),
    ('mmdet3d_plugin/metabev/__init__.py', 'from .decoder import MetaBEVDecoder'),
    ('mmdet3d_plugin/sparseocc/x.py', 'from mmdet3d_plugin.structures import OccupancyGrid'),
    ('mmdet3d_plugin/datasets/x.py', 'from mmdet3d_plugin.structures import OccupancyGrid'),
    ('mmdet3d_plugin/synthetic/x.py', 'from ..structures import OccupancyGrid\nfrom . import rig'),
    ('mmdet3d_plugin/testing/x.py', 'from mmdet3d_plugin.synthetic.rig import build_rig'),
    ('mmdet3d_plugin/structures/__init__.py', 'from .bev_map import BEV_MAP_CLASSES'),
    ('mmdet3d_plugin/utils/x.py', "import importlib\nimportlib.import_module(package)"),
    ('tools/create_data.py', 'from mmdet3d_plugin.synthetic import WorldConfig'),
    ('benchmarks/metabev.py', 'from mmdet3d_plugin.testing import make_batch'),
    ('projects/Foo/foo/model.py', 'from mmdet3d_plugin.models import heads\nfrom . import x'),
    ('projects/Foo/tests/test_x.py', 'from mmdet3d_plugin.synthetic import WorldConfig'),
])
def test_the_checker_allows_the_layering(rel_path, source):
    assert violations(rel_path, source) == []


def test_relative_import_beyond_the_package_is_an_error():
    with pytest.raises(ValueError, match='beyond the top-level package'):
        list(imported_names('from .... import x', 'mmdet3d_plugin/a/b.py'))


def _string_tuples(source: str) -> Iterator[Tuple[int, frozenset]]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Tuple, ast.List)) and node.elts and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            yield node.lineno, frozenset(e.value for e in node.elts)


def test_data_conventions_are_spelled_out_only_in_structures():
    from mmdet3d_plugin import structures
    conventions = {frozenset(getattr(structures, name)): name for name in (
        'BEV_MAP_CLASSES', 'NUSCENES_CAMERAS', 'NUSCENES_DETECTION_CLASSES', 'OCC3D_CLASS_NAMES',
        'NUSC_OCC_CLASS_NAMES')}
    found = []
    for rel in scanned_files():
        if rel.startswith(f'{PACKAGE}/{STRUCTURES}/'):
            continue
        for line, names in _string_tuples((REPO / rel).read_text(encoding='utf-8')):
            if names in conventions:
                found.append(f'{rel}:{line}: spells out {conventions[names]}')
    assert not found, 'import these from mmdet3d_plugin.structures:\n' + '\n'.join(found)


def test_users_share_the_structures_definitions():
    from mmdet3d_plugin import structures
    from mmdet3d_plugin.datasets.transforms import loading_multiview, loading_occupancy
    from mmdet3d_plugin.synthetic import classes, rig
    from mmdet3d_plugin.visualization import palettes
    assert loading_occupancy.OccupancyGrid is structures.OccupancyGrid
    assert loading_multiview.NUSCENES_CAMERAS is structures.NUSCENES_CAMERAS
    assert rig.CAMERA_NAMES is structures.NUSCENES_CAMERAS
    assert classes.DETECTION_NAMES is structures.NUSCENES_DETECTION_CLASSES
    assert palettes.DETECTION_CLASSES is structures.NUSCENES_DETECTION_CLASSES
    # The views draw the map classes in their own order (areas under lines): same names.
    assert sorted(palettes.MAP_CLASSES) == sorted(structures.BEV_MAP_CLASSES)
