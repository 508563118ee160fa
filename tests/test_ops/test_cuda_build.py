"""The CUDA sources compile with FORCE_CUDA=1 on a machine with nvcc but no GPU (slow)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def cuda_home():
    home = os.environ.get('CUDA_HOME')
    if home and (Path(home) / 'bin' / 'nvcc').exists():
        return home
    if (Path('/usr/local/cuda') / 'bin' / 'nvcc').exists():
        return '/usr/local/cuda'
    nvcc = shutil.which('nvcc')
    return str(Path(nvcc).resolve().parents[1]) if nvcc else None


@pytest.mark.slow
@pytest.mark.skipif(cuda_home() is None, reason='no CUDA toolkit (nvcc) on this machine')
def test_cuda_extension_compiles(tmp_path):
    env = dict(os.environ, FORCE_CUDA='1', DRIVE3D_OPS_STRICT='1', CUDA_HOME=cuda_home(),
               TORCH_CUDA_ARCH_LIST=os.environ.get('TORCH_CUDA_ARCH_LIST', '9.0'),
               MAX_JOBS=os.environ.get('MAX_JOBS', '2'))
    out = subprocess.run(
        [sys.executable, 'setup.py', 'build_ext', '--build-lib', str(tmp_path / 'lib'),
         '--build-temp', str(tmp_path / 'tmp')],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    objects = {p.name for p in (tmp_path / 'tmp').rglob('*.o')}
    assert 'bev_pool_cuda.o' in objects, objects
    assert list((tmp_path / 'lib').rglob('_ext*.so'))
