"""One call for a whole robustness study: ``run_robustness`` (used by ``tools/robustness.py``
and ``make demo``)."""
import os.path as osp
from functools import partial
from types import SimpleNamespace
from typing import Dict, List, Optional, Sequence, Tuple

from .report import write_report
from .settings import parse_severities, select_settings
from .study import (RobustnessStudy, RunnerEvaluator, find_pipeline_owner, fingerprint,
                    prepare_study_config)


def default_work_dir(config: str) -> str:
    """``work_dirs/<config name>/robustness``."""
    return osp.join('work_dirs', osp.splitext(osp.basename(config))[0], 'robustness')


def run_robustness(config: str, checkpoint: str, work_dir: Optional[str] = None,
                   corruptions: Optional[Sequence[str]] = None,
                   severities: Optional[Sequence[str]] = None, quick: bool = False,
                   seed: int = 0, max_samples: Optional[int] = None,
                   cfg_options: Optional[dict] = None, amp: bool = False,
                   metrics: Optional[Sequence[str]] = None,
                   progress: bool = True,
                   trust_checkpoint: bool = False) -> Tuple[List[dict], Dict[str, str]]:
    """Evaluate ``checkpoint`` under the selected settings and write the report.

    Args:
        config (str): Config file with ``test_dataloader`` / ``test_evaluator``.
        checkpoint (str): Checkpoint file.
        work_dir (str, optional): Output folder; defaults to ``default_work_dir(config)``.
        corruptions (Sequence[str], optional): Corruption names (None: all).
        severities (Sequence[str], optional): ``--severities`` tokens (``parse_severities``).
        quick (bool): The short preset (``quick_settings``).
        seed (int): Base seed of the corruptions.
        max_samples (int, optional): Evaluate only the first N samples (not with
            ``NuScenesMetric``).
        cfg_options (dict, optional): Config overrides (``--cfg-options``).
        amp (bool): Mixed-precision inference.
        metrics (Sequence[str], optional): Extra metric-key suffixes for the table.
        progress (bool): Show a progress bar over the settings.
        trust_checkpoint (bool): Fully unpickle ``checkpoint`` (``--trust-checkpoint``; it can
            run code) instead of the safe weights-only loading.

    Returns:
        tuple: The study records (one per setting, see ``RobustnessStudy.run``) and the report
        paths ``{'md', 'csv', 'png'}``.

    Raises:
        ValueError: for an unknown corruption / severity (the message lists the valid ones).
        FileNotFoundError: for a missing config or checkpoint.
        CheckpointError: for a refused, empty, truncated or foreign checkpoint.
    """
    from mmdet3d_plugin.engine import (build_runner, check_checkpoint_file, checkpoints_to_trust,
                                       prepare_test_config)
    settings = select_settings(corruptions, parse_severities(severities or []), quick=quick)
    # the Runner loads the checkpoint inside the first setting: a bad file stops the study here
    check_checkpoint_file(checkpoint, trusted=trust_checkpoint)
    work_dir = work_dir or default_work_dir(config)
    cfg = prepare_test_config(SimpleNamespace(
        config=config, checkpoint=checkpoint, cfg_options=cfg_options, work_dir=work_dir,
        launcher='none', amp=amp))
    cfg = prepare_study_config(cfg, max_samples)
    dataset_cfg = find_pipeline_owner(cfg.test_dataloader.dataset)
    evaluator = RunnerEvaluator(cfg, partial(
        build_runner, trusted_checkpoints=checkpoints_to_trust(cfg, trust_checkpoint)))
    study = RobustnessStudy(
        dataset_cfg.pipeline, settings, work_dir, evaluator, seed=seed,
        study_id=fingerprint(config, checkpoint, seed, max_samples, cfg_options),
        eval_boxes=bool(dataset_cfg.get('test_mode', False)
                        and dataset_cfg.get('load_eval_anns', True)))
    print(f'robustness: {len(settings)} settings -> {osp.abspath(work_dir)}', flush=True)
    records = study.run(progress=progress)
    header = [f'config: `{config}`', f'checkpoint: `{checkpoint}`',
              f'corruption seed: {seed}' + (f', first {max_samples} samples'
                                            if max_samples else '')]
    paths = write_report(records, work_dir, header_lines=header, suffixes=metrics)
    return records, paths
