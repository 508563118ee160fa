"""The tools on occupancy configs, with a randomly initialised tiny occupancy baseline on the
shared synthetic world (its Occ3D files; 3 val keyframes of scene-0103), no per-model code:

* ``tools/test.py --submit``: the Occ3D-nuScenes challenge files (``<sample_token>.npz`` with one
  uint8 ``(200, 200, 16)`` array, zipped as ``occ_submission/<token>.npz``) read back equal to
  the model's predictions; bad predictions refused naming the sample; nothing half-written;
* ``tools/visualize_predictions.py``: ``pred_occupancy.png`` (3D voxels and top view, GT beside
  prediction), and the voxel renderer's colours, occlusion and orientation;
* ``tools/robustness.py``: camera corruptions after the multi-view loader, LiDAR corruptions
  n/a (or refused when nothing else is selected), Occ3D / SSC mIoU columns.
"""
import csv
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdet3d_plugin.engine.occ3d_submission import OCC3D_FORMAT_DIR, Occ3DSubmissionPlan
from mmdet3d_plugin.engine.submission import prepare_submission
from mmdet3d_plugin.evaluation.submission import (SubmissionError, load_occ3d_submission,
                                                  split_sample_tokens, write_occ3d_sample,
                                                  write_occ3d_submission)
from mmdet3d_plugin.structures.occupancy_labels import OCC3D_CLASS_NAMES
from mmdet3d_plugin.testing import load_tool
from mmdet3d_plugin.visualization.palettes import OCC3D_COLORS

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs/occ_baseline/occ-baseline_cam_tiny_1xb2-cpu_synthetic.py'
SHAPE = (200, 200, 16)
CAMERA = ('obstacle_occlusion', 'view_drop', 'view_noise', 'missing_camera')
LIDAR = ('limited_field', 'missing_objects', 'beam_reduction', 'missing_lidar')


def pipeline_types(pipeline):
    return [str(step['type']).split('.')[-1] for step in pipeline]


@pytest.fixture(scope='module')
def world_dir(synthetic_world, tmp_path_factory):
    """A working directory whose ``data/synthetic`` is the shared world (the config's relative
    roots resolve as in a checkout) with ``occ_random.pth``, a seed-0 random baseline."""
    from mmdet3d_plugin.registry import MODELS
    cwd = tmp_path_factory.mktemp('occupancy_tools')
    (cwd / 'data').mkdir()
    os.symlink(synthetic_world.out, cwd / 'data' / 'synthetic')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(CONFIG)).model)
    torch.save({'state_dict': model.state_dict()}, str(cwd / 'occ_random.pth'))
    return cwd


@pytest.fixture
def in_world(world_dir, monkeypatch):
    monkeypatch.chdir(world_dir)
    return world_dir


def val_tokens(synthetic_world):
    return split_sample_tokens(str(synthetic_world.nuscenes), 'v1.0-mini', 'mini_val')


# --- Occ3D submission ----------------------------------------------------------------------

def test_occupancy_config_becomes_an_occ3d_submission(tmp_path):
    cfg = Config.fromfile(str(CONFIG))
    plan = prepare_submission(cfg, str(tmp_path / 'out'), 'val', str(CONFIG))
    assert isinstance(plan, Occ3DSubmissionPlan)
    assert (plan.version, plan.split, plan.meta) == ('v1.0-mini', 'mini_val', {})
    dataset = cfg.test_dataloader.dataset
    assert dataset.ann_file == '../occ3d/occ3d_infos_val.pkl' and dataset.test_mode
    assert dataset.load_eval_anns is False
    assert pipeline_types(dataset.pipeline) == ['LoadMultiViewImages', 'ImageAug3D',
                                                'OccupancyFrame', 'Pack3DDetBEVInputs']
    assert dataset.pipeline[-1]['keys'] == ['img']  # no gt_occ, mask_camera, mask_lidar
    assert cfg.test_evaluator == dict(type='Occ3DSubmissionWriter',
                                      out_dir=str(tmp_path / 'out' / OCC3D_FORMAT_DIR))
    # the test split needs its info file, and the message says how to make it
    cfg = Config.fromfile(str(CONFIG))
    with pytest.raises(SubmissionError, match=r'occ3d_infos_test\.pkl .* does not exist.*'
                                              r'create_data\.py nuscenes'):
        prepare_submission(cfg, str(tmp_path / 'out'), 'test', str(CONFIG))
    cfg = Config.fromfile(str(CONFIG))
    cfg.test_dataloader.dataset.update(data_root=str(tmp_path) + '/',
                                       ann_file='nuscenes_infos_test.pkl')
    (tmp_path / 'nuscenes_infos_test.pkl').touch()
    plan = prepare_submission(cfg, str(tmp_path / 'out'), 'test')
    assert (plan.version, plan.split) == ('v1.0-test', 'test')
    # the kind comes from the evaluator: neither or both kinds are refused
    for evaluator, message in ((dict(type='BEVMapSegMetric'), 'has no NuScenesMetric nor '
                                'Occ3DMetric'),
                               ([dict(type='Occ3DMetric'), dict(type='NuScenesMetric')],
                                r"\['NuScenesMetric', 'Occ3DMetric'\]")):
        cfg = Config.fromfile(str(CONFIG))
        cfg.test_evaluator = evaluator
        with pytest.raises(ValueError, match=message):
            prepare_submission(cfg, str(tmp_path / 'out'), 'val', 'x.py')


def test_bad_predictions_are_refused_naming_the_sample(tmp_path):
    from mmdet3d_plugin.evaluation.metrics import Occ3DSubmissionWriter
    good = np.full(SHAPE, 17, np.uint8)
    for bad, message in ((good[:, :, :8], r'shape \(X, Y, Z\) = \(200, 200, 16\).*\(200, 200, 8\)'),
                         (good.astype(np.float32), 'integer labels.*float32'),
                         (good.astype(bool), 'integer labels.*bool'),
                         (good + 1, r'labels in \[18, 18\]')):
        with pytest.raises(SubmissionError, match=rf'sample tok-1 .*{message}'):
            write_occ3d_sample(str(tmp_path), 'tok-1', bad)
    assert os.listdir(tmp_path) == []  # nothing written, no temporary file left
    staged, out = tmp_path / 'staged', tmp_path / 'out'
    writer = Occ3DSubmissionWriter(out_dir=str(staged))
    with pytest.raises(SubmissionError, match="sample tok-3 has no 'pred_occ'"):
        writer.process({}, [dict(token='tok-3', gt_occ=good)])
    with pytest.raises(SubmissionError, match=r'sample tok-4 has a flipped grid'):
        writer.process({}, [dict(token='tok-4', pred_occ=good, occ_flip=(True, False))])
    writer.process({}, [dict(token='tok-2', pred_occ=torch.from_numpy(good.astype(np.int64)))])
    write_occ3d_sample(str(staged), 'tok-7', good)
    assert writer.results == ['tok-2']
    assert sorted(os.listdir(staged)) == ['tok-2.npz', 'tok-7.npz']
    # the split's samples, each exactly once: a missing one is named and nothing appears
    out.mkdir()
    with pytest.raises(SubmissionError, match=r'1 of the 2 sample tokens .* tok-5\n.*1 file.*'
                                              r'not <token>\.npz of a sample.*tok-7\.npz'):
        write_occ3d_submission(str(staged), ['tok-2', 'tok-5'], str(out))
    assert os.listdir(out) == []
    written = write_occ3d_submission(str(staged), ['tok-2', 'tok-7'], str(out))
    assert sorted(os.listdir(out)) == ['occ_submission', 'occ_submission.zip']
    assert written['samples'] == 2 and not staged.exists()  # moved into place
    assert np.array_equal(load_occ3d_submission(written['zip'])['tok-2'], good)


def test_submit_writes_the_occ3d_zip_that_reads_back_as_the_predictions(
        in_world, synthetic_world):
    from mmdet3d_plugin.visualization.prediction_views import (build_model, build_split_dataset,
                                                               predict_sample)
    written = load_tool('test').main([str(CONFIG), 'occ_random.pth', '--submit', 'sub', '--split',
                                      'val', '--work-dir', 'work'])
    tokens = val_tokens(synthetic_world)
    assert written['samples'] == len(tokens) == 3
    sub = in_world / 'sub'
    assert sorted(os.listdir(sub)) == ['occ_submission', 'occ_submission.zip']
    with zipfile.ZipFile(sub / 'occ_submission.zip') as archive:
        assert archive.namelist() == ['occ_submission/'] + [f'occ_submission/{t}.npz'
                                                            for t in tokens]
        with archive.open(f'occ_submission/{tokens[0]}.npz') as f, np.load(f) as data:
            assert data.files == ['arr_0']  # np.savez_compressed(path, pred) as the README
    submitted = load_occ3d_submission(str(sub / 'occ_submission.zip'))
    assert sorted(os.listdir(sub / 'occ_submission')) == sorted(f'{t}.npz' for t in tokens)
    cfg = Config.fromfile(str(CONFIG))
    model = build_model(cfg, 'occ_random.pth')
    dataset = build_split_dataset(cfg, 'val')
    for index in range(len(dataset)):
        result = predict_sample(model, dataset, index)[1]
        array = submitted[result.metainfo['token']]
        assert array.dtype == np.uint8 and array.shape == SHAPE
        np.testing.assert_array_equal(array, result.pred_occ.numpy())


@pytest.mark.slow
def test_readme_recipe_submits_the_annotation_free_test_split(tmp_path, monkeypatch):
    """configs/occ_baseline/README.md, "Occ3D submission", on a world with a v1.0-test split:
    the nuScenes test infos as the Occ3D test infos, every test sample in the zip."""
    from mmdet3d_plugin.datasets.converters import create_nuscenes_infos
    from mmdet3d_plugin.registry import MODELS
    from mmdet3d_plugin.synthetic import WorldConfig, nuscenes_test_scene_names
    from mmdet3d_plugin.synthetic.generate import generate_synthetic
    nus = str(tmp_path / 'data/synthetic/nuscenes')
    generate_synthetic(str(tmp_path / 'data/synthetic'),
                       WorldConfig(scene_names=('scene-0103', ), num_keyframes=2,
                                   test_scene_names=nuscenes_test_scene_names(2)),
                       formats=('nuscenes', ), progress=False, workers=1)
    create_nuscenes_infos(nus, nus, 'v1.0-test', progress=False)
    torch.manual_seed(0)
    torch.save({'state_dict': MODELS.build(Config.fromfile(str(CONFIG)).model).state_dict()},
               str(tmp_path / 'occ_random.pth'))
    monkeypatch.chdir(tmp_path)
    written = load_tool('test').main([
        str(CONFIG), 'occ_random.pth', '--submit', 'occ3d_test', '--work-dir', 'work',
        '--cfg-options', 'test_dataloader.dataset.ann_file=nuscenes_infos_test.pkl'])
    tokens = split_sample_tokens(nus, 'v1.0-test', 'test')
    assert written['samples'] == len(tokens) == 4
    submitted = load_occ3d_submission(str(tmp_path / 'occ3d_test' / 'occ_submission.zip'))
    assert sorted(submitted) == sorted(tokens)


# --- pictures ------------------------------------------------------------------------------

def test_voxel_render_colours_occlusion_and_orientation():
    from mmdet3d_plugin.visualization.voxel_render import (FACE_SHADES, ego_forward_grid,
                                                           render_voxels, visible_voxels)
    car, pedestrian = OCC3D_CLASS_NAMES.index('car'), OCC3D_CLASS_NAMES.index('pedestrian')
    grid = np.full((12, 12, 4), 17)
    grid[5, 5, 0] = car
    image, _ = render_voxels(grid, OCC3D_COLORS, 17)
    assert image.shape == (12 + 12 + 8, 48, 3)
    drawn = (image != 1.0).any(2)
    assert drawn.sum() == 12  # one cube: 4 top, 4 rear and 4 right-face pixels (q = 1)
    colours = {tuple(np.round(c * 255).astype(int)) for c in image[drawn]}
    assert colours == {tuple(np.round(OCC3D_COLORS[car] * s).astype(int)) for s in FACE_SHADES}
    # a voxel one step nearer in x, y and up in z covers it exactly
    grid[4, 4, 1] = pedestrian
    image, _ = render_voxels(grid, OCC3D_COLORS, 17)
    assert np.array_equal((image != 1.0).any(2), drawn)
    assert {tuple(np.round(c * 255).astype(int)) for c in image[drawn]} == {
        tuple(np.round(OCC3D_COLORS[pedestrian] * s).astype(int)) for s in FACE_SHADES}
    # forward (+x) is drawn up and to the right of the rear
    grid[:] = 17
    grid[10, 0, 0], grid[0, 0, 0] = car, pedestrian
    image, _ = render_voxels(grid, OCC3D_COLORS, 17)
    rows_car, cols_car = np.nonzero(np.isclose(image, OCC3D_COLORS[car] / 255.0).all(2))
    rows_ped, cols_ped = np.nonzero(np.isclose(image, OCC3D_COLORS[pedestrian] / 255.0).all(2))
    assert cols_car.mean() > cols_ped.mean() and rows_car.mean() < rows_ped.mean()
    # a full block draws its surface only; a LiDAR frame with y forward is re-indexed
    assert visible_voxels(np.ones((3, 3, 3), bool)).sum() == 27 - 8
    lidar = np.zeros((4, 6, 2), int)
    lidar[1, 5, 0] = 1  # y = 5: far ahead of a '+y'-forward LiDAR, x = 1: to the right
    assert np.argwhere(ego_forward_grid(lidar, '+y') == 1).tolist() == [[5, 2, 0]]


def test_visualize_predictions_renders_occupancy_gt_beside_prediction(in_world):
    from PIL import Image

    from mmdet3d_plugin.visualization.occupancy_prediction_view import FIG_SIZE
    tool = load_tool('visualize_predictions')
    assert tool.main([str(CONFIG), 'occ_random.pth', '--out-dir', 'pictures']) == 0
    pictures = in_world / 'pictures'
    assert sorted(os.listdir(pictures)) == ['pred_cameras.png', 'pred_occupancy.png']
    with Image.open(pictures / 'pred_occupancy.png') as picture:
        assert picture.size == FIG_SIZE
        pixels = np.asarray(picture.convert('RGB')).reshape(-1, 3)
    # the GT panels draw the world's drivable surface and buildings in their Occ3D colours
    for name in ('driveable_surface', 'manmade'):
        colour = OCC3D_COLORS[OCC3D_CLASS_NAMES.index(name)]
        assert (np.abs(pixels.astype(int) - colour).max(1) <= 2).sum() > 500, name


# --- robustness ----------------------------------------------------------------------------

def test_camera_corruptions_follow_the_multiview_loader_and_lidar_ones_do_not_apply():
    from mmdet3d_plugin.robustness import NotApplicableError, check_applicable, insert_corruption
    from mmdet3d_plugin.robustness.settings import all_settings
    pipeline = Config.fromfile(str(CONFIG)).test_dataloader.dataset.pipeline
    for setting in all_settings():
        if setting.is_clean:
            continue
        result = insert_corruption(pipeline, setting)
        if setting.corruption in CAMERA:
            assert pipeline_types(result.pipeline) == (
                ['LoadMultiViewImages', setting.transform()['type'], 'ImageAug3D']
                + pipeline_types(pipeline)[2:])
        else:
            assert setting.corruption in LIDAR and not result.applicable
            assert 'loads no LiDAR points (camera-only input' in result.reason
    lidar_only = [s for s in all_settings() if s.corruption in ('beam_reduction', 'missing_lidar')]
    expected = r'none of the 6 selected .*beam_reduction-32, .*missing_lidar: the test pipeline'
    with pytest.raises(NotApplicableError, match=expected):
        check_applicable(pipeline, lidar_only)
    assert check_applicable(pipeline, all_settings()[:1] + lidar_only[:1] + [
        s for s in all_settings() if s.corruption == 'missing_camera']) == ['missing_camera']


def test_robustness_tool_refuses_lidar_corruptions_for_a_camera_only_model(in_world, capsys):
    tool = load_tool('robustness')
    assert tool.main([str(CONFIG), 'occ_random.pth', '--corruptions', 'beam_reduction',
                      'missing_lidar', '--work-dir', 'refused', '--no-progress']) == 2
    assert 'NotApplicableError: none of the 6 selected corruption settings' in (
        capsys.readouterr().err)
    assert not (in_world / 'refused' / 'settings').exists()


def test_robustness_study_of_an_occupancy_model(in_world):
    from mmdet3d_plugin.robustness import run_robustness
    # the config's Occ3DMetric and an SSCMetric on the Occ3D labels: both columns
    evaluators = [dict(type='Occ3DMetric'),
                  dict(type='SSCMetric', num_classes=18, class_names=OCC3D_CLASS_NAMES,
                       free_index=17)]
    records, paths = run_robustness(
        str(CONFIG), 'occ_random.pth', 'robustness',
        corruptions=['view_drop', 'missing_camera', 'beam_reduction'],
        severities=['view_drop=6', 'beam_reduction=4'], max_samples=2, progress=False,
        cfg_options={'test_evaluator': evaluators})
    status = {r['setting']: r['status'] for r in records}
    assert status == {'clean': 'ok', 'beam_reduction-4': 'n/a', 'view_drop-6': 'ok',
                      'missing_camera': 'ok'}
    with open(paths['csv'], newline='') as f:
        rows = {row['setting']: row for row in csv.DictReader(f)}
    occ3d, ssc = 'Occ3D mIoU [occ3d/mIoU]', 'SSC mIoU [ssc/SSC_mIoU]'
    assert occ3d in rows['clean'] and ssc in rows['clean']
    assert 'camera-only input' in rows['beam_reduction-4']['note']
    # a camera-only model under six blanked views sees what Missing Camera gives it
    for column in (occ3d, ssc):
        assert rows['view_drop-6'][column] == rows['missing_camera'][column] != ''
    with open(paths['md']) as f:
        assert '| Occ3D mIoU | Occ3D mIoU vs clean (%) | SSC mIoU |' in f.read()
