"""Finding the checkpoint a training run left behind."""
import glob
import os.path as osp
from typing import Optional


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint mmengine's ``last_checkpoint`` file names, else the newest ``epoch_*.pth``.

    Returns None when ``work_dir`` holds neither.
    """
    marker = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
    epochs = glob.glob(osp.join(work_dir, 'epoch_*.pth'))
    return max(epochs, key=lambda p: int(p.rsplit('_', 1)[1][:-4])) if epochs else None
