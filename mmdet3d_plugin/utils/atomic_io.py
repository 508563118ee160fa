"""Atomic file writing: a file is written to a temporary name, then renamed into place, so an
interrupted writer never leaves a half-written file behind."""
import json
import os
import tempfile
from contextlib import contextmanager


@contextmanager
def atomic_path(path: str):
    """Yield a temporary path next to ``path``; on success rename it to ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp-', suffix=os.path.basename(path))
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str, obj) -> None:
    """Write ``obj`` as JSON atomically."""
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        json.dump(obj, f)


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` atomically."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)
