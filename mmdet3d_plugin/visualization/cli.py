"""The command-line ending shared by the picture tools (``tools/browse_dataset.py``,
``tools/visualize_predictions.py``): bad input is one line on stderr and exit code 2, success
lists the PNGs written."""
import sys
import time
from typing import Callable, Dict

#: Errors that mean bad input (a path, index, key or value the user gave), not a bug.
INPUT_ERRORS = (FileNotFoundError, IndexError, KeyError, ValueError)


def run_render(tool: str, render: Callable[[], Dict[str, str]]) -> int:
    """Call ``render()`` and report: ``name: path`` lines and the time (exit 0), or
    ``<tool>: error: <Type>: <message>`` on stderr without a traceback (exit 2)."""
    start = time.time()
    try:
        written = render()
    except INPUT_ERRORS as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f'{tool}: error: {type(error).__name__}: {message}', file=sys.stderr)
        return 2
    for name, path in written.items():
        print(f'{name}: {path}')
    print(f'wrote {len(written)} PNGs in {time.time() - start:.1f} s')
    return 0
