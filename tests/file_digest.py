"""Content digest of a folder, for the tests that compare generated trees byte for byte."""
import hashlib
import os


def tree_digest(root) -> dict:
    """``{relative path: md5}`` of every file under ``root``."""
    digest = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, 'rb') as f:
                digest[os.path.relpath(path, root)] = hashlib.md5(f.read()).hexdigest()
    return digest
