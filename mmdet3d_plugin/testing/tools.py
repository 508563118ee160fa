"""The repository's command-line tools as modules, for tests that run them in-process."""
import importlib.util
import os.path as osp
from types import ModuleType

#: ``tools/`` of the checkout this package lives in.
TOOLS_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools')


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as a fresh module; its ``main(argv)`` then runs in this interpreter.

    ``name`` may name a sub-folder's tool: ``'analysis_tools/get_flops'``.

    Running a tool in-process spares a test the ~20 s a new interpreter spends importing
    mmdet3d and spconv (spconv builds its kernel tables at import).

    Raises:
        FileNotFoundError: no ``tools/<name>.py`` in this checkout.
    """
    path = osp.join(TOOLS_DIR, f'{name}.py')
    if not osp.isfile(path):
        raise FileNotFoundError(f'load_tool: no tool {path}')
    module_name = 'drive3d_tool_' + name.replace('/', '_')
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
