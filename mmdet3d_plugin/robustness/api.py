"""One call for a whole robustness study: ``run_robustness`` (used by ``tools/robustness.py``
and ``make demo``), zero-shot and, with in-domain checkpoints, MetaBEV's Table-2 layout."""
import os.path as osp
from functools import partial
from types import SimpleNamespace
from typing import Dict, List, Optional, Sequence, Tuple

from .pipeline_insert import check_applicable
from .report import write_report
from .settings import parse_severities, select_settings
from .study import (RobustnessStudy, RunnerEvaluator, find_pipeline_owner, fingerprint,
                    prepare_study_config)
from .table2 import write_table2

#: ``record['protocol']`` of the records ``run_robustness`` returns.
ZERO_SHOT, IN_DOMAIN = 'zero-shot', 'in-domain'


def default_work_dir(config: str) -> str:
    """``work_dirs/<config name>/robustness``."""
    return osp.join('work_dirs', osp.splitext(osp.basename(config))[0], 'robustness')


def _study(config: str, checkpoint: str, work_dir: str, settings, seed: int,
           max_samples: Optional[int], cfg_options: Optional[dict], amp: bool, progress: bool,
           trust_checkpoint: bool) -> List[dict]:
    """Evaluate one checkpoint under ``settings`` (resumable) and return the records."""
    from mmdet3d_plugin.engine import build_runner, checkpoints_to_trust, prepare_test_config
    cfg = prepare_test_config(SimpleNamespace(
        config=config, checkpoint=checkpoint, cfg_options=cfg_options, work_dir=work_dir,
        launcher='none', amp=amp))
    cfg = prepare_study_config(cfg, max_samples)
    dataset_cfg = find_pipeline_owner(cfg.test_dataloader.dataset)
    eval_boxes = bool(dataset_cfg.get('test_mode', False)
                      and dataset_cfg.get('load_eval_anns', True))
    check_applicable(dataset_cfg.pipeline, settings, seed, eval_boxes)  # before any loading
    evaluator = RunnerEvaluator(cfg, partial(
        build_runner, trusted_checkpoints=checkpoints_to_trust(cfg, trust_checkpoint)))
    study = RobustnessStudy(
        dataset_cfg.pipeline, settings, work_dir, evaluator, seed=seed,
        study_id=fingerprint(config, checkpoint, seed, max_samples, cfg_options),
        eval_boxes=eval_boxes)
    print(f'robustness: {len(settings)} settings -> {osp.abspath(work_dir)}', flush=True)
    return study.run(progress=progress)


def run_robustness(config: str, checkpoint: str, work_dir: Optional[str] = None,
                   corruptions: Optional[Sequence[str]] = None,
                   severities: Optional[Sequence[str]] = None, quick: bool = False,
                   seed: int = 0, max_samples: Optional[int] = None,
                   cfg_options: Optional[dict] = None, amp: bool = False,
                   metrics: Optional[Sequence[str]] = None,
                   progress: bool = True,
                   trust_checkpoint: bool = False,
                   in_domain: Optional[Dict[str, str]] = None
                   ) -> Tuple[List[dict], Dict[str, str]]:
    """Evaluate ``checkpoint`` under the selected settings and write the report.

    Args:
        config (str): Config file with ``test_dataloader`` / ``test_evaluator``.
        checkpoint (str): The zero-shot checkpoint (trained clean).
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
        trust_checkpoint (bool): Fully unpickle the checkpoints (``--trust-checkpoint``; it can
            run code) instead of the safe weights-only loading.
        in_domain (dict, optional): Corruption name -> checkpoint of the model trained with it;
            each is evaluated under its corruption's selected settings (results in
            ``<work_dir>/in_domain/<name>/settings``).

    Returns:
        tuple: The records (one per setting, see ``RobustnessStudy.run``; zero-shot first, then
        the in-domain ones; ``record['protocol']`` tells which) and the report paths
        ``{'md', 'csv', 'png'}`` (zero-shot) plus ``{'table2_md', 'table2_csv',
        'table2_json'}`` (zero-shot and in-domain side by side, ``table2.py``).

    Raises:
        ValueError: for an unknown corruption / severity (the message lists the valid ones) or
            an in-domain corruption that is not selected.
        NotApplicableError: no selected corruption applies to the test pipeline (e.g. only
            LiDAR corruptions for a camera-only occupancy model; a ValueError).
        FileNotFoundError: for a missing config or checkpoint.
        CheckpointError: for a refused, empty, truncated or foreign checkpoint.
    """
    from mmdet3d_plugin.engine import check_checkpoint_file
    settings = select_settings(corruptions, parse_severities(severities or []), quick=quick)
    in_domain = dict(in_domain or {})
    selected = {s.corruption for s in settings if not s.is_clean}
    unknown = sorted(set(in_domain) - selected)
    if unknown:
        raise ValueError(f'--in-domain names {unknown}, which the study does not evaluate; '
                         f'selected corruptions: {sorted(selected)}')
    # the Runner loads a checkpoint inside its first setting: a bad file stops the study here
    for path in [checkpoint] + list(in_domain.values()):
        check_checkpoint_file(path, trusted=trust_checkpoint)
    work_dir = work_dir or default_work_dir(config)
    common = dict(seed=seed, max_samples=max_samples, cfg_options=cfg_options, amp=amp,
                  progress=progress, trust_checkpoint=trust_checkpoint)
    records = [dict(r, protocol=ZERO_SHOT)
               for r in _study(config, checkpoint, work_dir, settings, **common)]
    trained = {}
    for name, path in in_domain.items():
        own = [s for s in settings if s.corruption == name]
        trained[name] = [dict(r, protocol=IN_DOMAIN) for r in _study(
            config, path, osp.join(work_dir, 'in_domain', name), own, **common)]
    header = [f'config: `{config}`', f'checkpoint: `{checkpoint}`',
              f'corruption seed: {seed}' + (f', first {max_samples} samples'
                                            if max_samples else '')]
    paths = write_report(records, work_dir, header_lines=header, suffixes=metrics)
    table_header = header[:1] + [f'zero-shot (trained clean): `{checkpoint}`'] + [
        f'in-domain {name}: `{path}`' for name, path in in_domain.items()] + header[2:]
    table = write_table2(records, trained, work_dir, checkpoints=in_domain,
                         header_lines=table_header, suffixes=metrics)
    paths.update({f'table2_{ext}': path for ext, path in table.items()})
    return records + [r for name in in_domain for r in trained[name]], paths
