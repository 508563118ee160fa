"""Drive3D: installs the ``mmdet3d_plugin`` package and builds its optional C++/CUDA ops.

The compiled ops are *optional*: when the compiler or torch's extension tooling is missing,
or a build fails, the package still installs and every op falls back to its pure-PyTorch
reference with one warning at first use. Environment switches:

* ``FORCE_CUDA=1``        build the CUDA kernels too (automatic when torch sees a GPU).
* ``DRIVE3D_NO_OPS=1``    skip the compiled ops entirely.
* ``DRIVE3D_OPS_STRICT=1`` make an op build failure an install error (used by the build check).
"""
import os
import sys
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent


def read_requirements(name):
    """Requirement lines of ``requirements/<name>`` without comments or includes."""
    lines = []
    for line in (ROOT / 'requirements' / name).read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if line and not line.startswith('-'):
            lines.append(line)
    return lines


def version():
    namespace = {}
    exec((ROOT / 'mmdet3d_plugin' / 'version.py').read_text(), namespace)
    return namespace['__version__']


def pip_cuda_include_dirs(cuda_home):
    """Header folders of pip's NVIDIA packages, when the CUDA toolkit lacks the math libraries'
    headers that torch's CUDA headers include (cusparse.h, cublas_v2.h, ...)."""
    if cuda_home and (Path(cuda_home) / 'include' / 'cusparse.h').exists():
        return []
    try:
        import nvidia
    except ImportError:
        return []
    return sorted(str(p) for base in nvidia.__path__ for p in Path(base).glob('*/include'))


def op_extensions():
    """Return ``(ext_modules, cmdclass)`` for the optional compiled ops."""
    if os.environ.get('DRIVE3D_NO_OPS', '0') == '1':
        return [], {}
    try:
        import torch
        from torch.utils.cpp_extension import (CUDA_HOME, BuildExtension, CppExtension,
                                               CUDAExtension)
    except ImportError as exc:  # torch absent: pure-PyTorch paths only
        print(f'[drive3d] compiled ops skipped ({exc})', file=sys.stderr)
        return [], {}

    strict = os.environ.get('DRIVE3D_OPS_STRICT', '0') == '1'
    with_cuda = os.environ.get('FORCE_CUDA', '0') == '1' or torch.cuda.is_available()

    class OptionalBuildExtension(BuildExtension):
        """Builds each extension; a failure is reported, not fatal (unless strict)."""

        def build_extension(self, ext):
            try:
                super().build_extension(ext)
            except Exception as exc:  # noqa: BLE001 - any compiler failure
                if strict:
                    raise
                print(f'[drive3d] WARNING: optional extension {ext.name} failed to build '
                      f'({type(exc).__name__}: {exc}); the pure-PyTorch path will be used.',
                      file=sys.stderr)

    ext_modules = []
    for op_dir in sorted((ROOT / 'mmdet3d_plugin' / 'ops').glob('*/csrc')):
        op = op_dir.parent.name
        cpp = sorted(str(p.relative_to(ROOT)) for p in op_dir.glob('*.cpp'))
        cu = sorted(str(p.relative_to(ROOT)) for p in op_dir.glob('*.cu'))
        name = f'mmdet3d_plugin.ops.{op}._ext'
        cxx_flags = ['-O3', '-fopenmp']
        if with_cuda and cu:
            ext_modules.append(CUDAExtension(
                name, cpp + cu,
                include_dirs=pip_cuda_include_dirs(CUDA_HOME),
                define_macros=[('WITH_CUDA', None)],
                extra_compile_args={'cxx': cxx_flags, 'nvcc': ['-O3']},
                extra_link_args=['-fopenmp']))
        else:
            ext_modules.append(CppExtension(
                name, cpp, extra_compile_args={'cxx': cxx_flags},
                extra_link_args=['-fopenmp']))
    return ext_modules, {'build_ext': OptionalBuildExtension.with_options(use_ninja=True)}


ext_modules, cmdclass = op_extensions()

setup(
    name='drive3d',
    version=version(),
    description='Drive3D: autonomous-driving 3D perception on the OpenMMLab stack',
    long_description=(ROOT / 'README.md').read_text() if (ROOT / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['mmdet3d_plugin', 'mmdet3d_plugin.*']),
    package_data={'mmdet3d_plugin': ['ops/*/csrc/*']},
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'tests': read_requirements('tests.txt'),
        'optional': read_requirements('optional.txt'),
        'all': read_requirements('tests.txt') + read_requirements('optional.txt'),
    },
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    zip_safe=False,
)
