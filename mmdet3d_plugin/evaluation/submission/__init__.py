"""Benchmark submissions: files in the format an evaluation server takes, validated before they
are written (:mod:`.nuscenes_detection`: the nuScenes detection ``results_nusc.json`` / zip;
:mod:`.occ3d`: the Occ3D-nuScenes occupancy ``<sample_token>.npz`` files / zip)."""
from .nuscenes_detection import (CLASS_ATTRIBUTES, MAX_BOXES_PER_SAMPLE, META_KEYS,
                                 SubmissionError, box_problems, keep_top_boxes,
                                 split_sample_tokens, submission_problems,
                                 validate_detection_submission, write_detection_submission)
from .occ3d import (NPZ_KEY, OCC3D_SHAPE, RESULTS_FOLDER, ZIP_NAME, check_occ3d_prediction,
                    load_occ3d_submission, occ3d_folder_problems, read_occ3d_sample,
                    write_occ3d_sample, write_occ3d_submission)

__all__ = [
    'CLASS_ATTRIBUTES', 'MAX_BOXES_PER_SAMPLE', 'META_KEYS', 'SubmissionError', 'box_problems',
    'keep_top_boxes', 'split_sample_tokens', 'submission_problems',
    'validate_detection_submission', 'write_detection_submission', 'NPZ_KEY', 'OCC3D_SHAPE',
    'RESULTS_FOLDER', 'ZIP_NAME', 'check_occ3d_prediction', 'load_occ3d_submission',
    'occ3d_folder_problems', 'read_occ3d_sample', 'write_occ3d_sample', 'write_occ3d_submission'
]
