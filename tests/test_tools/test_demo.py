"""`make demo` end to end (slow): synthetic world -> infos -> pictures -> MetaBEV trained on CPU ->
devkit + map evaluation -> short robustness study -> prediction pictures, in a scratch working
directory. Also MetaBEV's learning check: the clean scores must clear floors set from measured
runs (see MEASURED below)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NDS_KEY = 'NuScenes metric/pred_instances_3d_NuScenes/NDS'
MAP_IOU_KEY = 'map/mean/iou@max'
# MEASURED (configs/metabev/README.md): the demo's MetaBEV (12 epochs, unseeded) reached clean
# NDS 0.155 / map mIoU 19.2 on an idle 2-core machine (whole demo 14 min 48 s); the seeded
# claim-check run of the same config reached 0.130 / 14.1. The floors are about half the lower
# run, to allow for seeds and other CPUs' numerics; an untrained model scores NDS ~0, mIoU ~0-3.
MIN_NDS = 0.06
MIN_MAP_MIOU = 7.0
# With a sensor missing, the same checkpoint (two measured 12-epoch runs, demo / seeded claim
# check): Missing LiDAR map mIoU 10.6 / 10.3 (NDS 0.028 / 0.027 -- too close to 0 for a floor with
# margin, so the map carries the check; BEVFusion without LiDAR: 1.9 mIoU), Missing Camera NDS
# 0.160 / 0.129. Floors: about half the lower run.
MIN_MISSING_LIDAR_MAP_MIOU = 5.0
MIN_MISSING_CAMERA_NDS = 0.06


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    work_dir = tmp_path / 'work'
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    result = subprocess.run([sys.executable, str(REPO / 'tools/demo.py'), '--work-dir',
                             str(work_dir)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=45 * 60)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert 'Drive3D demo finished' in result.stdout
    for name in ('dataset/cameras.png', 'dataset/bev.png', 'robustness/robustness.md',
                 'robustness/robustness.csv', 'robustness/robustness.png',
                 'predictions/pred_cameras.png', 'predictions/pred_bev.png'):
        assert (work_dir / name).is_file() and (work_dir / name).stat().st_size > 1000, name
    settings = work_dir / 'robustness' / 'settings'
    records = {path.stem: json.loads(path.read_text()) for path in settings.glob('*.json')}
    assert {'clean', 'missing_lidar', 'missing_camera'} <= set(records)
    assert len(records) == 9 and all(r['status'] == 'ok' for r in records.values())
    clean = records['clean']['metrics']
    assert clean[NDS_KEY] >= MIN_NDS and clean[MAP_IOU_KEY] >= MIN_MAP_MIOU
    # One checkpoint serves both sensor failures.
    assert records['missing_lidar']['metrics'][MAP_IOU_KEY] >= MIN_MISSING_LIDAR_MAP_MIOU
    assert records['missing_camera']['metrics'][NDS_KEY] >= MIN_MISSING_CAMERA_NDS
