"""Environment report: every component is checked live; failures give a one-line fix."""
import subprocess
import sys
from pathlib import Path

from mmdet3d_plugin.utils import collect_env as ce

REPO = Path(__file__).resolve().parents[2]


def test_collect_env_tool_reports_every_component_ok(tmp_path):
    out = subprocess.run([sys.executable, str(REPO / 'tools/collect_env.py')], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    for name, _ in ce.CHECKS:
        assert name in out.stdout
    assert 'All components OK' in out.stdout
    for key in ('torch', 'mmcv', 'mmdet3d', 'spconv', 'Drive3D op bev_pool'):
        assert f'\n{key}: ' in out.stdout


def test_failed_check_gives_reason_and_fix(monkeypatch, capsys):
    def broken_open3d():
        raise ImportError('libusb-1.0.so.0: cannot open shared object file')

    def broken_spconv():
        raise ModuleNotFoundError("No module named 'spconv'")

    monkeypatch.setattr(ce, 'CHECKS', [('open3d', broken_open3d), ('spconv (CPU)', broken_spconv)])
    results = ce.run_checks()
    assert results['open3d'][0] == 'FAIL'
    assert 'libusb-1.0.so.0' in results['open3d'][1]
    assert 'apt-get install libusb-1.0-0' in results['open3d'][1]
    assert 'pip install spconv-cu120' in results['spconv (CPU)'][1]
    assert ce.main([]) == 1
    assert 'FAILED: open3d, spconv (CPU)' in capsys.readouterr().out
