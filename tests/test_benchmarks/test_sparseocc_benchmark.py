"""benchmarks/sparseocc.py: one short run at the synthetic resolution writes every number."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'benchmarks' / 'sparseocc.py'


def load_script():
    spec = importlib.util.spec_from_file_location('sparseocc_benchmark', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_refuses_a_missing_checkpoint(tmp_path, capsys):
    with pytest.raises(SystemExit):
        load_script().parse_args(['--sparse-checkpoint', str(tmp_path / 'none.pth')])
    assert '--sparse-checkpoint: no such file' in capsys.readouterr().err


def test_sparse_cfg_options_reach_the_sparseocc_configs_only():
    script = load_script()
    args = script.parse_args(['--sparse-cfg-options', 'model.view_transform.append_mass=True',
                              'model.occ_encoder.keep_mass_ratio=0.25'])
    assert script.cfg_options_of('SparseOcc', args) == {
        'model.view_transform.append_mass': True, 'model.occ_encoder.keep_mass_ratio': 0.25}
    assert script.cfg_options_of('dense', args) is None
    assert script.cfg_options_of('SparseOcc', script.parse_args([])) is None


@pytest.mark.slow
def test_the_synthetic_benchmark_reports_flops_latency_memory_and_active_voxels(tmp_path):
    # its own interpreter: the memory children are forked before any torch work
    out = tmp_path / 'sparseocc.json'
    result = subprocess.run([sys.executable, str(SCRIPT), '--skip-paper', '--repeats', '1',
                             '--warmup', '0', '--threads', '1', '--out', str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert '| predict latency ms, synthetic |' in result.stdout
    report = json.loads(out.read_text())
    assert 'paper' not in report and report['threads'] == 1
    synthetic = report['synthetic']
    for name in ('dense', 'SparseOcc'):
        model = synthetic[name]
        assert model['gflops'] > 0 and model['latency_ms'] > 0 and model['params_m'] > 0
        assert len(model['latency_runs_ms']) == 1 and model['weights'] == 'random init'
        assert model['memory']['peak_extra_mb'] > 0 and model['memory']['baseline_mb'] > 0
        assert model['gflops'] == pytest.approx(sum(model['gflops_by_group'].values()))
        assert 0 < model['lifted']['active'] <= 50 * 50 * 4
    levels = synthetic['SparseOcc']['levels']
    assert [tuple(level['grid_zyx']) for level in levels] == [(4, 50, 50), (2, 25, 25)]
    assert all(level['active'] > 0 and 0 < level['share'] <= 1 for level in levels)
    assert 'levels' not in synthetic['dense']
    assert all(synthetic['ratio'][key] > 0 for key in ('flops', 'latency', 'memory'))
    assert set(report['met']) == {'latency', 'memory'}
    assert not list(tmp_path.glob('.*.tmp'))
