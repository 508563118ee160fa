"""Atomic file writing: a file is written to a temporary name, then renamed into place, so an
interrupted writer never leaves a half-written file behind."""
import json
import os
import secrets
from contextlib import contextmanager


@contextmanager
def atomic_path(path: str):
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    The temporary file is hidden and ends in ``.tmp`` (``.<name>.<random>.tmp``), so a writer
    killed before the rename (SIGKILL, power loss) leaves nothing that matches ``*<suffix>`` of
    the real file; an exception removes it. The file is created with the usual permissions
    (``0o666`` minus the umask), as ``open(path, 'w')`` would, not ``mkstemp``'s ``0o600``.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    while True:
        tmp = os.path.join(directory, f'.{os.path.basename(path)}.{secrets.token_hex(6)}.tmp')
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
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
