"""The Occ3D-nuScenes occupancy submission: one ``<sample_token>.npz`` per sample, zipped.

The format is the CVPR 2023 Occupancy Prediction Challenge's (README of
CVPR2023-3D-Occupancy-Prediction, "Submission format"): a results folder holding one
``[frame_token].npz`` per sample of the evaluation split (the frame token is the nuScenes
``sample_token``), each "an array of uint8 values" of shape ``[200, 200, 16]``, the predicted
Occ3D label (0..16 classes, 17 free) of every voxel, written as in their example::

    np.savez_compressed(save_path, occ_pred.astype(np.uint8))

i.e. one unnamed array, stored under NumPy's default key ``arr_0`` (:data:`NPZ_KEY`); "the
official evaluation server only accepts a single ``*.zip`` file", made with
``zip -r occ_submission.zip results_folder`` (so the archive holds the folder:
``<folder>/<token>.npz``, :data:`RESULTS_FOLDER`).

:func:`write_occ3d_sample` writes one sample atomically after :func:`check_occ3d_prediction`
(shape, integer dtype, labels in range, each refusal naming the sample);
:func:`write_occ3d_submission` checks that the staged folder holds exactly the split's samples,
writes the zip atomically and reads it back (:func:`load_occ3d_submission`) before it appears.
"""
import os
import shutil
import zipfile
from typing import Dict, Iterable, List

import numpy as np

from ...structures.occupancy_labels import OCC3D_CLASS_NAMES
from ...utils.atomic_io import atomic_path
from .nuscenes_detection import SubmissionError

#: ``(X, Y, Z)`` of every prediction (Occ3D-nuScenes, 0.4 m voxels of [-40, 40]^2 x [-1, 5.4]).
OCC3D_SHAPE = (200, 200, 16)
#: Labels 0..17 (17 = free).
OCC3D_NUM_LABELS = len(OCC3D_CLASS_NAMES)
#: Key of the array in each ``.npz`` (``np.savez_compressed(path, array)`` names it ``arr_0``).
NPZ_KEY = 'arr_0'
#: The results folder (beside the zip, and the folder inside it).
RESULTS_FOLDER = 'occ_submission'
#: The archive uploaded to the evaluation server.
ZIP_NAME = 'occ_submission.zip'
#: Problems of one kind listed in a refusal before the rest are counted.
MAX_LISTED = 5


def _listed(items: List[str]) -> str:
    shown = ', '.join(items[:MAX_LISTED])
    return shown + (f', ... ({len(items) - MAX_LISTED} more)' if len(items) > MAX_LISTED else '')


def check_occ3d_prediction(prediction, sample_token: str) -> np.ndarray:
    """``prediction`` as the ``(200, 200, 16)`` uint8 array the server takes.

    Args:
        prediction (np.ndarray | torch.Tensor): Integer labels ``(X, Y, Z)`` in ``[0, 18)``.
        sample_token (str): The sample it belongs to (for the error message).

    Returns:
        np.ndarray: ``(200, 200, 16)`` uint8, C-contiguous.

    Raises:
        SubmissionError: naming the sample, when the shape is not ``(200, 200, 16)``, the dtype
            is not an integer one (floats, e.g. probabilities, and bools are refused) or a
            label is outside ``[0, 17]``.
    """
    if hasattr(prediction, 'detach'):
        prediction = prediction.detach().cpu().numpy()
    array = np.asarray(prediction)
    where = f'Occ3D submission: the prediction of sample {sample_token}'
    if array.shape != OCC3D_SHAPE:
        raise SubmissionError(f'{where} must have shape (X, Y, Z) = {OCC3D_SHAPE} (the '
                              f'Occ3D-nuScenes grid), got {array.shape} ({array.dtype})')
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise SubmissionError(f'{where} must hold integer labels (uint8), got dtype '
                              f'{array.dtype}')
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= OCC3D_NUM_LABELS:
        raise SubmissionError(f'{where} has labels in [{low}, {high}]; Occ3D labels are 0..'
                              f'{OCC3D_NUM_LABELS - 1} (17 = free)')
    return np.ascontiguousarray(array, dtype=np.uint8)


def sample_file(folder: str, sample_token: str) -> str:
    """``<folder>/<sample_token>.npz``."""
    return os.path.join(folder, f'{sample_token}.npz')


def write_occ3d_sample(folder: str, sample_token: str, prediction) -> str:
    """Write ``<folder>/<sample_token>.npz`` (checked, compressed, atomically).

    Returns:
        str: The file written.

    Raises:
        SubmissionError: see :func:`check_occ3d_prediction`.
    """
    array = check_occ3d_prediction(prediction, sample_token)
    path = sample_file(folder, sample_token)
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:  # a file object: no '.npz' appended
        np.savez_compressed(f, array)
    return path


def read_occ3d_sample(source, name: str) -> np.ndarray:
    """The prediction of one ``.npz`` (a path or a binary file object), checked.

    Raises:
        SubmissionError: naming ``name`` when the file is not an ``.npz`` holding exactly one
            ``(200, 200, 16)`` uint8 array under :data:`NPZ_KEY`.
    """
    try:
        with np.load(source) as data:
            files = list(data.files)
            array = data[NPZ_KEY] if files == [NPZ_KEY] else None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise SubmissionError(f'Occ3D submission: {name} is not a readable .npz ({error})') \
            from error
    if array is None:
        raise SubmissionError(f'Occ3D submission: {name} must hold exactly one array '
                              f'{NPZ_KEY!r}, got {files}')
    if array.shape != OCC3D_SHAPE or array.dtype != np.uint8:
        raise SubmissionError(f'Occ3D submission: {name} holds a {array.shape} {array.dtype} '
                              f'array, expected {OCC3D_SHAPE} uint8')
    return array


def occ3d_folder_problems(folder: str, sample_tokens: Iterable[str]) -> List[str]:
    """Why ``folder`` is not the results folder of the split (empty if it is).

    Returns:
        list[str]: Missing samples, files of other samples or not named ``<token>.npz``.
    """
    expected = list(dict.fromkeys(sample_tokens))
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    present = {name[:-len('.npz')] for name in names if name.endswith('.npz')}
    problems = []
    missing = [t for t in expected if t not in present]
    if missing:
        problems.append(f'{len(missing)} of the {len(expected)} sample tokens of the split have '
                        f'no prediction (every sample needs <token>.npz): {_listed(missing)}')
    known = set(expected)
    extra = [n for n in names if not n.endswith('.npz') or n[:-len('.npz')] not in known]
    if extra:
        problems.append(f'{len(extra)} file(s) are not <token>.npz of a sample of the split: '
                        f'{_listed(extra)}')
    return problems


def load_occ3d_submission(zip_path: str, folder: str = RESULTS_FOLDER) -> Dict[str, np.ndarray]:
    """Read a submission zip back: ``{sample_token: (200, 200, 16) uint8}``.

    Raises:
        SubmissionError: naming the member that is not ``<folder>/<token>.npz`` or not a valid
            prediction (:func:`read_occ3d_sample`).
    """
    predictions = {}
    with zipfile.ZipFile(zip_path) as archive:
        for member in archive.namelist():
            if member == f'{folder}/':
                continue
            head, _, name = member.partition('/')
            if head != folder or not name.endswith('.npz') or '/' in name:
                raise SubmissionError(f'Occ3D submission {zip_path}: member {member!r} is not '
                                      f'{folder}/<sample_token>.npz')
            with archive.open(member) as f:
                predictions[name[:-len('.npz')]] = read_occ3d_sample(
                    f, f'{zip_path}:{member}')
    return predictions


def write_occ3d_submission(staged: str, sample_tokens: Iterable[str], out_dir: str,
                           folder: str = RESULTS_FOLDER,
                           zip_name: str = ZIP_NAME) -> Dict[str, object]:
    """Turn the staged ``<token>.npz`` files into the submission: ``<out_dir>/<zip_name>``
    (``<folder>/<token>.npz`` members) and the results folder ``<out_dir>/<folder>``.

    Nothing appears unless every sample of the split has exactly one valid file: the zip is
    written to a temporary name, read back and checked, then renamed; the staged folder then
    replaces ``<out_dir>/<folder>``.

    Args:
        staged (str): Folder holding the ``<token>.npz`` written during the test run.
        sample_tokens (Iterable[str]): The sample tokens of the evaluation split.
        out_dir (str): Destination.
        folder (str): Name of the results folder (in the zip and beside it).
        zip_name (str): Name of the archive.

    Returns:
        dict: ``zip``, ``folder`` paths and ``samples`` (files written).

    Raises:
        SubmissionError: listing every problem (missing samples, files of other samples,
            unreadable or malformed arrays).
    """
    tokens = list(dict.fromkeys(sample_tokens))
    problems = occ3d_folder_problems(staged, tokens)
    if problems:
        lines = '\n'.join(f'  - {p}' for p in problems)
        raise SubmissionError(f'Occ3D submission refused ({len(problems)} problem(s)):\n{lines}')
    zip_path = os.path.join(out_dir, zip_name)
    with atomic_path(zip_path) as tmp_zip:
        with zipfile.ZipFile(tmp_zip, 'w', zipfile.ZIP_DEFLATED) as archive:
            archive.write(staged, arcname=f'{folder}/')
            for token in tokens:
                archive.write(sample_file(staged, token), arcname=f'{folder}/{token}.npz')
        written = load_occ3d_submission(tmp_zip, folder)
        if sorted(written) != sorted(tokens):
            raise SubmissionError(f'Occ3D submission: {tmp_zip} read back {len(written)} '
                                  f'samples, expected {len(tokens)}')
    results = os.path.join(out_dir, folder)
    if os.path.isdir(results):
        shutil.rmtree(results)
    os.replace(staged, results)
    return {'zip': zip_path, 'folder': results, 'samples': len(tokens)}
