"""Which transforms of a test pipeline draw from the *global* random state.

Evaluation must not depend on the global RNG (numpy's, Python's or torch's): mmengine seeds it
differently in every run, so a transform that draws from it makes two evaluations of one
checkpoint score differently. Two layers decide:

* :data:`RULES`: transforms that draw from the global RNG under some arguments, each with a
  function of its config that says why it is random (``None`` when it is deterministic with
  these arguments), read from the transform's code (mmdet3d 1.4 and ``mmdet3d_plugin``);
* every other transform is resolved through the registry and its code (the class, its bases
  below ``BaseTransform`` and the module-level functions they call) is scanned for global-RNG
  calls (:func:`global_rng_calls`); a hit without a rule fails, asking for one. Generators
  seeded per sample (``np.random.default_rng(seed)``, the corruptions' ``sample_rng``) are not
  global state and pass.
"""
import ast
import functools
import inspect
import textwrap
from typing import Callable, Dict, List, Optional, Sequence, Tuple

#: numpy.random attributes that build a private generator instead of drawing from the global one
SEEDED_NUMPY = frozenset({'default_rng', 'Generator', 'SeedSequence', 'PCG64', 'BitGenerator'})
#: torch functions that draw from the global torch generator (unless given ``generator=``)
TORCH_RANDOM = frozenset({'rand', 'randn', 'randint', 'randperm', 'rand_like', 'randn_like',
                          'randint_like', 'bernoulli', 'multinomial', 'normal', 'poisson'})
WRAPPERS = ('MultiScaleFlipAug3D', 'MultiScaleFlipAug', 'TestTimeAug', 'Compose')


def transform_type(transform: dict) -> str:
    """Registered name without scope: ``'mmdet3d.GlobalRotScaleTrans'`` -> its last part."""
    kind = transform['type']
    return kind.rsplit('.', 1)[-1] if isinstance(kind, str) else kind.__name__


def _degenerate(low_high) -> bool:
    low, high = (float(v) for v in low_high)
    return low == high


def _rot_range(value) -> Tuple[float, float]:
    if isinstance(value, (int, float)):  # mmdet3d's GlobalRotScaleTrans: r -> [-r, r]
        return -abs(value), abs(value)
    return tuple(value)


def _coin(ratio) -> bool:
    """A flip drawn with this probability is random (0 and 1 are certain)."""
    return 0.0 < float(ratio) < 1.0


def _sweeps(transform: dict) -> Optional[str]:
    # LoadPointsFromMultiSweeps (mmdet3d) and LoadSweepsWithRing (ours) take a random
    # sweeps_num of the available sweeps unless test_mode (then the nearest sweeps_num)
    if not transform.get('test_mode', False):
        return 'test_mode is not True: a random sweeps_num of the available sweeps'
    return None


def _image_aug(transform: dict) -> Optional[str]:
    # ImageAug3D: is_train draws resize, crop, flip and rotation; otherwise their centred means
    return 'is_train=True draws resize/crop/flip/rotation' if transform.get('is_train') else None


def _global_augment_all(transform: dict) -> Optional[str]:
    # GlobalAugmentAll: draws from numpy.random unless seed is given or test_mode (seed 0)
    if transform.get('seed') is not None or transform.get('test_mode', False):
        return None
    rot = transform.get('rot_range', (-0.78539816, 0.78539816))
    scale = transform.get('scale_ratio_range', (0.95, 1.05))
    std = transform.get('translation_std', (0.0, 0.0, 0.0))
    flips = (transform.get('flip_ratio_bev_horizontal', 0.0),
             transform.get('flip_ratio_bev_vertical', 0.0))
    if (_degenerate(rot) and _degenerate(scale) and not any(float(s) for s in std)
            and not any(_coin(f) for f in flips)):
        return None
    return 'unseeded draws of rotation/scale/translation/flip (no seed, no test_mode)'


def _global_rot_scale_trans(transform: dict) -> Optional[str]:
    # mmdet3d GlobalRotScaleTrans: uniform(rot_range), uniform(scale_ratio_range),
    # normal(0, translation_std)
    rot = _rot_range(transform.get('rot_range', (-0.78539816, 0.78539816)))
    scale = transform.get('scale_ratio_range', (0.95, 1.05))
    std = transform.get('translation_std', (0, 0, 0))
    std = [std] * 3 if isinstance(std, (int, float)) else std
    if _degenerate(rot) and _degenerate(scale) and not any(float(s) for s in std):
        return None
    return (f'rot_range={list(rot)}, scale_ratio_range={list(scale)}, translation_std='
            f'{list(std)}: random rotation/scale/translation')


def _random_flip_3d(transform: dict) -> Optional[str]:
    # mmdet3d RandomFlip3D: np.random.rand() < flip_ratio_bev_* for points (unless the flip
    # flags are preset, e.g. by MultiScaleFlipAug3D) and mmcv's RandomFlip(prob=
    # flip_ratio_bev_horizontal) for images
    flips = (transform.get('flip_ratio_bev_horizontal', 0.0),
             transform.get('flip_ratio_bev_vertical', 0.0))
    if any(_coin(f) for f in flips):
        return f'flip ratios {list(flips)}: random flips'
    return None


def _occupancy_frame(transform: dict) -> Optional[str]:
    # OccupancyFrame: np.random.rand() < flip_*_ratio for each ratio strictly between 0 and 1
    flips = (transform.get('flip_x_ratio', 0.0), transform.get('flip_y_ratio', 0.0))
    if any(_coin(f) for f in flips):
        return f'flip ratios {list(flips)}: random grid flips'
    return None


def _always(reason: str) -> Callable[[dict], str]:
    return lambda transform: reason


#: name -> (config -> reason it is random, or None)
RULES: Dict[str, Callable[[dict], Optional[str]]] = {
    'LoadPointsFromMultiSweeps': _sweeps,
    'LoadSweepsWithRing': _sweeps,
    'ImageAug3D': _image_aug,
    'GlobalAugmentAll': _global_augment_all,
    'GlobalRotScaleTrans': _global_rot_scale_trans,
    'RandomFlip3D': _random_flip_3d,
    'OccupancyFrame': _occupancy_frame,
    'PointShuffle': _always('shuffles the points'),
    'FastPointShuffle': _always('shuffles the points'),
}


# ---------------------------------------------------------------------- code scan
def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return '.'.join(reversed(parts))


def _rng_uses(tree: ast.AST) -> List[str]:
    """Global-RNG uses in ``tree``: ``np.random.<draw>``, ``random.<draw>``, ``torch.<rand>``
    without ``generator=``, ``np.random`` itself handed around, ``@cache_randomness``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name = _dotted(node)
            head, _, tail = name.rpartition('.')
            if head in ('np.random', 'numpy.random') and tail not in SEEDED_NUMPY:
                found.append(name)
            elif head == 'random' and tail not in ('Random', 'SystemRandom'):
                found.append(name)
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if (name.startswith('torch.') and name.split('.', 1)[1] in TORCH_RANDOM
                    and not any(k.arg == 'generator' for k in node.keywords)):
                found.append(name)
        elif isinstance(node, ast.Return) and node.value is not None:
            if _dotted(node.value) in ('np.random', 'numpy.random'):
                found.append('returns np.random')
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.extend('@cache_randomness' for d in node.decorator_list
                         if _dotted(d).endswith('cache_randomness'))
    return found


def _tree(obj) -> Optional[ast.AST]:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError):
        return None


@functools.lru_cache(maxsize=None)
def global_rng_calls(cls: type) -> Tuple[str, ...]:
    """Global-RNG uses in the code of transform class ``cls``: its own and its bases' bodies
    (below mmcv's ``BaseTransform``) and the module-level functions of their modules that they
    call by name (one level)."""
    from mmcv.transforms import BaseTransform
    found = []
    for klass in cls.__mro__:
        if klass in (BaseTransform, object) or not issubclass(klass, BaseTransform):
            continue
        tree = _tree(klass)
        if tree is None:
            continue
        found.extend(f'{klass.__name__}: {use}' for use in _rng_uses(tree))
        module = inspect.getmodule(klass)
        called = {_dotted(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        for name in sorted(called):
            function = getattr(module, name, None)
            if inspect.isfunction(function):
                body = _tree(function)
                found.extend(f'{klass.__name__} -> {name}: {use}'
                             for use in (_rng_uses(body) if body is not None else []))
    return tuple(found)


def transform_class(transform: dict) -> type:
    """The class a transform config builds, looked up as the pipeline does (our scope, then
    mmdet3d's, mmdet's, mmcv's)."""
    from mmengine.registry import DefaultScope

    from mmdet3d_plugin.registry import TRANSFORMS
    kind = transform['type']
    if not isinstance(kind, str):
        return kind
    with DefaultScope.overwrite_default_scope('mmdet3d_plugin'):
        cls = TRANSFORMS.get(kind)
    if cls is None:
        raise KeyError(f'transform type {kind!r} is not registered (scope mmdet3d_plugin)')
    return cls


def walk(pipeline: Sequence[dict], prefix: str = '') -> List[Tuple[str, dict]]:
    """``(location, transform)`` of every transform, nested wrapper lists included."""
    entries = []
    for index, transform in enumerate(pipeline):
        where = f'{prefix}[{index}]'
        entries.append((where, transform))
        inner = transform.get('transforms')
        if isinstance(inner, (list, tuple)):
            entries.extend(walk(inner, f'{where}.transforms'))
    return entries


def random_transforms(pipeline: Sequence[dict]) -> List[str]:
    """One line per transform of ``pipeline`` that draws from the global random state."""
    problems = []
    for where, transform in walk(pipeline):
        name = transform_type(transform)
        if name in RULES:
            reason = RULES[name](transform)
            if reason:
                problems.append(f'{where} {name}: {reason}')
            continue
        uses = global_rng_calls(transform_class(transform))
        if uses:
            problems.append(f'{where} {name}: draws from the global RNG ({"; ".join(uses[:3])}) '
                            'and tests/test_configs/randomness_rules.py has no rule saying when '
                            'it is deterministic; add one to RULES')
    return problems
