"""Benchmark submissions: files in the format an evaluation server takes, validated before they
are written (:mod:`.nuscenes_detection`: the nuScenes detection ``results_nusc.json`` / zip)."""
from .nuscenes_detection import (CLASS_ATTRIBUTES, MAX_BOXES_PER_SAMPLE, META_KEYS,
                                 SubmissionError, box_problems, keep_top_boxes,
                                 split_sample_tokens, submission_problems,
                                 validate_detection_submission, write_detection_submission)

__all__ = [
    'CLASS_ATTRIBUTES', 'MAX_BOXES_PER_SAMPLE', 'META_KEYS', 'SubmissionError', 'box_problems',
    'keep_top_boxes', 'split_sample_tokens', 'submission_problems',
    'validate_detection_submission', 'write_detection_submission'
]
