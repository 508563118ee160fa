"""Set-up: requirement ranges admit the pinned CI stack; a second set-up run does nothing."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def requirements(name):
    for line in (REPO / 'requirements' / name).read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if line and not line.startswith('-'):
            yield Requirement(line)


def test_constraints_pin_versions_inside_the_ranges():
    pins = {r.name.lower(): r for r in requirements('constraints-cpu.txt')}
    ranges = [r for f in ('runtime.txt', 'optional.txt', 'build.txt')
              for r in requirements(f)]
    assert pins, 'constraints file is empty'
    for pin in pins.values():
        assert len(pin.specifier) == 1 and next(iter(pin.specifier)).operator == '=='
    for req in ranges:
        pin = pins.get(req.name.lower())
        if pin is not None:
            version = next(iter(pin.specifier)).version
            assert req.specifier.contains(version, prereleases=True), f'{pin} outside {req}'


@pytest.mark.skipif(Path(sys.prefix).resolve() != (REPO / '.venv').resolve(),
                    reason="not running from the project's .venv (make setup)")
def test_second_setup_run_is_a_no_op():
    env = {k: v for k, v in os.environ.items() if k not in ('VENV', 'FORCE_CUDA')}
    out = subprocess.run(['bash', str(REPO / 'tools/setup_env.sh')], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'environment up to date' in out.stdout and 'nothing to do' in out.stdout
