"""MetaBEV's sensor-corruption suite as a table of settings and a config builder.

``CORRUPTION_SUITE`` maps each corruption name to its severities, in MetaBEV's order (clean
end first); ``build_corruption(name, severity, seed)`` returns the transform config for one
setting, so a robustness tool can evaluate every setting::

    for name, severities in CORRUPTION_SUITE.items():
        for severity in severities:
            corruption = build_corruption(name, severity, seed=0)
            # insert ``corruption`` into the test pipeline (see each transform's placement)

=====================  ===================  ===================================  ===============
name                   transform            severity -> argument                 severities
=====================  ===================  ===================================  ===============
limited_field          LimitedField         half FOV, degrees -> half_fov_deg    180 120 90 60
obstacle_occlusion     ObstacleOcclusion    lens-dirt masks: with / without      None
missing_objects        MissingObjects       object drop rate -> drop_rate        0 .1 .3 .5 .7 1
beam_reduction         BeamReduction        beams kept of 32 -> num_beams        32 16 8 4 1
view_drop              ViewDrop             cameras blanked -> num_views         1 2 3 4 5 6
view_noise             ViewNoise            cameras noised -> num_views          1 2 3 4 5 6
missing_camera         MissingCamera        single setting                       None
missing_lidar          MissingLiDAR         single setting                       None
=====================  ===================  ===================================  ===============

Obstacle Occlusion follows MetaBEV's toolkit: one binary setting, "with" (lens-dirt masks,
occlusion.py) against "without" (the clean setting). ``ObstacleOcclusion(coverage=c)`` keeps a
graded blob occluder of ours outside the suite.

``TRAINING_SEVERITIES`` lists, per graded corruption, what ``RandomCorruption(severity=
'random')`` draws from: the suite's severities without the one that changes nothing
(180 degrees, drop rate 0, 32 of 32 beams).
"""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Union

Severity = Optional[Union[int, float]]


@dataclass(frozen=True)
class CorruptionSpec:
    """One corruption of the suite.

    Attributes:
        transform (str): Registered transform name.
        argument (str, optional): Constructor argument that receives the severity; None for a
            single-setting corruption.
        severities (tuple): The valid severities, in order.
    """

    transform: str
    argument: Optional[str]
    severities: Tuple[Severity, ...]


CORRUPTION_SPECS: Dict[str, CorruptionSpec] = {
    'limited_field': CorruptionSpec('LimitedField', 'half_fov_deg', (180, 120, 90, 60)),
    'obstacle_occlusion': CorruptionSpec('ObstacleOcclusion', None, (None, )),
    'missing_objects': CorruptionSpec('MissingObjects', 'drop_rate',
                                      (0.0, 0.1, 0.3, 0.5, 0.7, 1.0)),
    'beam_reduction': CorruptionSpec('BeamReduction', 'num_beams', (32, 16, 8, 4, 1)),
    'view_drop': CorruptionSpec('ViewDrop', 'num_views', (1, 2, 3, 4, 5, 6)),
    'view_noise': CorruptionSpec('ViewNoise', 'num_views', (1, 2, 3, 4, 5, 6)),
    'missing_camera': CorruptionSpec('MissingCamera', None, (None, )),
    'missing_lidar': CorruptionSpec('MissingLiDAR', None, (None, )),
}

#: Corruption name -> list of its severities (a copy: editing it does not change the suite).
CORRUPTION_SUITE: Dict[str, list] = {
    name: list(spec.severities) for name, spec in CORRUPTION_SPECS.items()
}


#: Severities of the suite that leave the input unchanged.
NO_OP_SEVERITIES: Dict[str, Severity] = {'limited_field': 180, 'missing_objects': 0.0,
                                         'beam_reduction': 32}

#: Corruption name -> severities ``RandomCorruption(severity='random')`` draws from.
TRAINING_SEVERITIES: Dict[str, Tuple[Severity, ...]] = {
    name: tuple(s for s in spec.severities
                if name not in NO_OP_SEVERITIES or s != NO_OP_SEVERITIES[name])
    for name, spec in CORRUPTION_SPECS.items()
}


def _match_severity(spec: CorruptionSpec, severity: Severity) -> Severity:
    """Return the suite's own value equal to ``severity`` (e.g. 4.0 -> 4).

    Raises:
        LookupError: if no valid severity of ``spec`` equals ``severity``.
    """
    for valid in spec.severities:
        if valid is None or severity is None or isinstance(severity, bool):
            if valid is severity:
                return valid
        elif severity == valid:
            return valid
    raise LookupError


def build_corruption(name: str, severity: Severity = None, seed: int = 0) -> dict:
    """Return the transform config of one setting of the suite.

    Args:
        name (str): A key of ``CORRUPTION_SUITE``, e.g. ``'beam_reduction'``.
        severity (int | float | None): One of ``CORRUPTION_SUITE[name]`` (None for
            ``missing_camera`` / ``missing_lidar``).
        seed (int): Base seed passed to the transform. Defaults to 0.

    Returns:
        dict: e.g. ``dict(type='BeamReduction', num_beams=4, seed=0)``, ready for
        ``TRANSFORMS.build`` or a pipeline list.

    Raises:
        ValueError: for an unknown name or severity; the message lists the valid choices.
    """
    if name not in CORRUPTION_SPECS:
        raise ValueError(f'unknown corruption {name!r}; valid names: {list(CORRUPTION_SPECS)}')
    spec = CORRUPTION_SPECS[name]
    try:
        severity = _match_severity(spec, severity)
    except LookupError:
        raise ValueError(f'unknown severity {severity!r} for corruption {name!r}; valid '
                         f'severities: {list(spec.severities)}') from None
    config = dict(type=spec.transform)
    if spec.argument is not None:
        config[spec.argument] = severity
    config['seed'] = seed
    return config
