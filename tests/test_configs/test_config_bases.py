"""Config layout: `_base_` chains at most two levels deep, real-data bases that stand alone
(synthetic bases derive from them, never the reverse), a model index (`model-index.yml` ->
`configs/*/metafile.yml`) listing every method config, each of which builds, and the runtime's
local + TensorBoard visualizer in every config."""
import os.path as osp
from pathlib import Path
from typing import List

import pytest
import yaml
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmdet3d_plugin.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / 'configs').rglob('*.py'))
BASES = [c for c in CONFIGS if '_base_' in c.parts]
METHOD_CONFIGS = [c for c in CONFIGS if '_base_' not in c.parts]
MAX_DEPTH = 2


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def direct_bases(config: Path) -> List[Path]:
    """The files named in ``config``'s ``_base_`` (read statically, as mmengine does)."""
    bases = Config._get_base_files(str(config))
    for base in bases:
        assert '::' not in base, f'{_rel(config)}: cross-package base {base} (not expected)'
    return [Path(osp.normpath(config.parent / base)) for base in bases]


def depth(config: Path) -> int:
    """Longest ``_base_`` chain below ``config`` (0: no ``_base_``)."""
    return max((1 + depth(base) for base in direct_bases(config)), default=0)


def all_bases(config: Path) -> List[Path]:
    found = []
    for base in direct_bases(config):
        found += [base] + all_bases(base)
    return found


def is_synthetic(path: Path) -> bool:
    return 'synthetic' in path.name


@pytest.mark.parametrize('config', CONFIGS, ids=_rel)
def test_base_chains_are_at_most_two_deep(config):
    assert depth(config) <= MAX_DEPTH, (
        f'{_rel(config)}: _base_ chain {depth(config)} deep (at most {MAX_DEPTH}); list the '
        'bases directly instead of inheriting through another config that has them')


@pytest.mark.parametrize('config', [c for c in CONFIGS if not is_synthetic(c)], ids=_rel)
def test_real_data_configs_never_import_a_synthetic_one(config):
    synthetic = [_rel(b) for b in all_bases(config) if is_synthetic(b)]
    assert not synthetic, f'{_rel(config)} (real data) inherits {synthetic}'


def test_synthetic_dataset_base_derives_from_the_real_one():
    datasets = REPO / 'configs/_base_/datasets'
    assert direct_bases(datasets / 'synthetic-nus-bev.py') == [datasets / 'nus-bev-3d.py']
    assert direct_bases(datasets / 'nus-bev-3d.py') == []
    real = Config.fromfile(str(datasets / 'nus-bev-3d.py'))
    synthetic = Config.fromfile(str(datasets / 'synthetic-nus-bev.py'))
    assert real.data_root == 'data/nuscenes/' and synthetic.data_root == 'data/synthetic/nuscenes/'
    for cfg in (real, synthetic):  # nothing of the real data root left in the synthetic one
        for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
            assert loader.dataset.data_root == cfg.data_root
            assert loader.dataset.metainfo == cfg.metainfo
            map_loader = [t for t in loader.dataset.pipeline if t['type'] == 'LoadBEVMapGT']
            assert [t['data_root'] for t in map_loader] == [cfg.data_root]
        assert cfg.train_dataloader.dataset.pipeline == cfg.train_pipeline
        assert cfg.test_dataloader.dataset.pipeline == cfg.test_pipeline
        assert all(m['data_root'] == cfg.data_root for m in cfg.test_evaluator
                   if m['type'] == 'NuScenesMetric')


# ---------------------------------------------------------------------- model index
def _yaml(path: Path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def metafiles() -> List[Path]:
    return [REPO / path for path in _yaml(REPO / 'model-index.yml')['Import']]


def indexed_models() -> List[dict]:
    return [model for metafile in metafiles() for model in _yaml(metafile)['Models']]


def test_every_method_folder_has_a_metafile_in_the_model_index():
    folders = sorted({c.parent for c in METHOD_CONFIGS})
    assert sorted(m.parent for m in metafiles()) == folders
    for metafile in metafiles():
        data = _yaml(metafile)
        collections = {c['Name'] for c in data['Collections']}
        for collection in data['Collections']:
            assert (REPO / collection['README']).is_file(), collection['README']
            assert collection['Paper']['URL'].startswith('https://')
        for model in data['Models']:
            assert model['In Collection'] in collections, (metafile, model['Name'])
            assert model['Name'] == Path(model['Config']).stem, model['Name']
            assert Path(model['Config']).parent == metafile.parent.relative_to(REPO)
            assert 'Weights' not in model, f"{model['Name']}: no released weights exist"
            for result in model.get('Results', []):
                assert {'Task', 'Dataset', 'Metrics'} <= set(result), model['Name']
            if model.get('Results'):  # paper figures are labelled as such
                assert model['Metadata']['Results Source'].startswith(('paper', 'measured'))


def test_the_model_index_lists_every_method_config():
    listed = sorted(REPO / model['Config'] for model in indexed_models())
    assert listed == METHOD_CONFIGS


@pytest.mark.parametrize('model', indexed_models(), ids=lambda m: m['Name'])
def test_every_indexed_config_exists_and_builds_its_model(model):
    config = REPO / model['Config']
    assert config.is_file(), f'{config} listed in the model index does not exist'
    cfg = Config.fromfile(str(config))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        built = MODELS.build(cfg.model)  # no init_weights: paper configs would fetch weights
    assert sum(p.numel() for p in built.parameters()) > 0


# ---------------------------------------------------------------------- visualizer
@pytest.mark.parametrize('config', METHOD_CONFIGS + [REPO / 'configs/_base_/default_runtime.py'],
                         ids=_rel)
def test_visualizer_logs_locally_and_to_tensorboard(config):
    cfg = Config.fromfile(str(config))
    backends = [backend['type'] for backend in cfg.visualizer.vis_backends]
    assert backends == ['LocalVisBackend', 'TensorboardVisBackend'], (_rel(config), backends)


def test_only_the_runtime_base_defines_the_visualizer():
    owners = [_rel(b) for b in BASES if 'visualizer' in Config.fromfile(str(b))
              and not all_bases(b)]
    assert owners == ['configs/_base_/default_runtime.py']
