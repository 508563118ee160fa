"""The synthetic world written as KITTI: files in KITTI's formats, read by mmdet3d's
``KittiDataset`` and box structures, labels consistent with the LiDAR and the image, and
ground truth as prediction scoring AP 100 in mmdet3d's ``kitti_eval``."""
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from kitti_eval_cpu import rotate_iou_cpu, use_cpu_rotate_iou
from PIL import Image

from mmdet3d_plugin.synthetic import (CLASS_BY_NAME, Agent, FrameState, SyntheticWorld,
                                      WorldConfig, render_camera)
from mmdet3d_plugin.synthetic.generate import generate_synthetic
from mmdet3d_plugin.synthetic.kitti_writer import (MINI_VAL_SCENES, kitti_calib, kitti_frames,
                                                   kitti_objects, velodyne_points, write_kitti)
from mmdet3d_plugin.synthetic.rig import yaw_matrix

KITTI_TYPES = {'Car', 'Van', 'Truck', 'Pedestrian', 'Person_sitting', 'Cyclist', 'Tram', 'Misc',
               'DontCare'}
CLASSES = ('Pedestrian', 'Cyclist', 'Car', 'Van', 'Truck', 'Person_sitting', 'Tram', 'Misc')


@pytest.fixture(scope='module')
def world(kitti_world):
    """The shared KITTI world in memory: one scene of nuScenes' mini_train and one of mini_val,
    at nuScenes' full image size (KITTI's difficulty levels are in pixels of a ~720 px focal
    length; the default 400 x 225 images, 316 px, shrink every object below them)."""
    return SyntheticWorld(kitti_world.config)


@pytest.fixture(scope='module')
def root(kitti_world):
    """Its KITTI files (written by ``generate_synthetic``, i.e. ``write_kitti_scene`` per scene
    and ``write_image_sets``; also holding mmdet3d's infos and ``velodyne_reduced``)."""
    return str(kitti_world.kitti)


def read_label(path: str) -> dict:
    """A label file parsed as mmdet3d's KITTI converter does (``get_label_anno``): single
    spaces, dimensions hwl -> lhw."""
    with open(path) as f:
        content = [line.strip().split(' ') for line in f.readlines()]
    return {
        'name': np.array([x[0] for x in content]),
        'truncated': np.array([float(x[1]) for x in content]),
        'occluded': np.array([int(x[2]) for x in content]),
        'alpha': np.array([float(x[3]) for x in content]),
        'bbox': np.array([[float(v) for v in x[4:8]] for x in content]).reshape(-1, 4),
        'dimensions': np.array([[float(v) for v in x[8:11]]
                                for x in content]).reshape(-1, 3)[:, [2, 0, 1]],
        'location': np.array([[float(v) for v in x[11:14]] for x in content]).reshape(-1, 3),
        'rotation_y': np.array([float(x[14]) for x in content]).reshape(-1),
    }


def read_calib(path: str) -> dict:
    """A calib file parsed as the converter does (``get_kitti_image_info``), as 4x4 matrices."""
    with open(path) as f:
        lines = f.readlines()
    calib = {}
    for line, name, shape in zip(lines, ['P0', 'P1', 'P2', 'P3', 'R0_rect', 'Tr_velo_to_cam',
                                         'Tr_imu_to_velo'], [(3, 4)] * 4 + [(3, 3)] + [(3, 4)] * 2):
        assert line.split(' ')[0] == f'{name}:'
        matrix = np.eye(4)
        matrix[:shape[0], :shape[1]] = np.array(
            [float(v) for v in line.split(' ')[1:1 + shape[0] * shape[1]]]).reshape(shape)
        calib[name] = matrix
    return calib


def frame_path(root: str, folder: str, frame_id: int, ext: str) -> str:
    return os.path.join(root, 'training', folder, f'{frame_id:06d}.{ext}')


def test_layout_and_formats(root, world):
    from nuscenes.utils import splits
    assert set(MINI_VAL_SCENES) == set(splits.mini_val)
    frames = kitti_frames(world)
    assert len(frames) == 6
    for folder, ext in (('velodyne', 'bin'), ('image_2', 'png'), ('calib', 'txt'),
                        ('label_2', 'txt')):
        assert sorted(os.listdir(os.path.join(root, 'training', folder))) == [
            f'{i:06d}.{ext}' for i in range(6)]
    image_sets = {s: Path(root, 'ImageSets', f'{s}.txt').read_text().split()
                  for s in ('train', 'val', 'trainval', 'test')}
    assert image_sets == {'train': ['000000', '000001', '000002'],
                          'val': ['000003', '000004', '000005'],
                          'trainval': [f'{i:06d}' for i in range(6)], 'test': []}
    frame_id, scene_index, timestamp = frames[4]
    scene = world.scenes[scene_index]
    frame = world.frame(scene, timestamp)
    points, _ = world.lidar_sweep(scene, frame)
    velo = np.fromfile(frame_path(root, 'velodyne', frame_id, 'bin'), dtype=np.float32)
    velo = velo.reshape(-1, 4)
    np.testing.assert_array_equal(velo, velodyne_points(points))
    assert 0 <= velo[:, 3].min() and velo[:, 3].max() <= 1
    # the velodyne frame is the ego frame (x forward, y left, z up) moved to LIDAR_TOP
    lidar = world.rig['LIDAR_TOP']
    np.testing.assert_allclose(velo[:, :3], points[:, :3] @ lidar.rotation.T, atol=1e-5)
    image = Image.open(frame_path(root, 'image_2', frame_id, 'png'))
    assert image.mode == 'RGB' and image.size == world.config.image_size
    np.testing.assert_array_equal(np.asarray(image), render_camera(world, frame, 'CAM_FRONT'))
    calib = read_calib(frame_path(root, 'calib', frame_id, 'txt'))
    camera = world.rig['CAM_FRONT']
    np.testing.assert_allclose(calib['P2'][:3, :3], camera.intrinsic)
    np.testing.assert_allclose(calib['P2'][:3, 3], 0)
    np.testing.assert_allclose(calib['R0_rect'], np.eye(4))
    # Tr_velo_to_cam agrees with the rig: a global point seen from both sensors
    point = frame.ego_translation + np.array([20.0, 3.0, 1.0])
    rotation, translation = frame.sensor_pose(lidar)
    in_velo = ((point - translation) @ rotation) @ np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    rotation, translation = frame.sensor_pose(camera)
    in_camera = (point - translation) @ rotation
    np.testing.assert_allclose((calib['Tr_velo_to_cam'] @ np.append(in_velo, 1))[:3], in_camera,
                               atol=1e-9)
    np.testing.assert_allclose(calib['Tr_imu_to_velo'][:3, 3], -lidar.translation, atol=1e-12)
    for i in range(6):
        with open(frame_path(root, 'label_2', i, 'txt')) as f:
            fields = [line.rstrip('\n').split(' ') for line in f]
        assert fields and all(len(x) == 15 for x in fields)
        names = [x[0] for x in fields]
        assert set(names) <= KITTI_TYPES
        assert 'DontCare' not in names[:len(names) - names.count('DontCare')]  # they come last
        objects = [x for x in fields if x[0] != 'DontCare']
        assert all(0 <= float(x[1]) <= 1 and x[2] in ('0', '1', '2', '3') for x in objects)
        assert all(abs(float(x[v])) <= round(np.pi, 4) for x in objects for v in (3, 14))


def test_label_conventions_agree_with_mmdet3d_for_an_oblique_car(world):
    from mmdet3d.structures import Box3DMode, CameraInstance3DBoxes
    ego_yaw, rel_yaw, rel_xy, size = 0.3, 0.5, np.array([20.0, 3.0]), (4.5, 1.9, 1.7)
    ego_xy = np.array([100.0, 50.0])
    x, y = ego_xy + yaw_matrix(ego_yaw)[:2, :2] @ rel_xy
    car = Agent('car', CLASS_BY_NAME['car'], size, pose=(x, y, ego_yaw + rel_yaw))
    frame = FrameState(0, yaw_matrix(ego_yaw), np.append(ego_xy, 0.0), [car],
                       car.box_at(0.0)[None], np.zeros((1, 2)), [])
    (obj, ) = kitti_objects(world, frame, np.zeros(0, dtype=np.int64))
    assert obj.name == 'Car' and obj.occluded == 3 and obj.truncated == 0
    np.testing.assert_allclose(obj.dimensions, [size[2], size[1], size[0]])  # h w l
    assert obj.alpha == pytest.approx(obj.rotation_y - np.arctan2(obj.location[0],
                                                                  obj.location[2]))
    # mmdet3d's camera -> LiDAR conversion with the written calibration recovers the box in the
    # KITTI velodyne frame (the ego's axes at LIDAR_TOP): position, size and yaw
    calib = kitti_calib(world)
    lidar2cam = np.eye(4)
    lidar2cam[:3] = calib.Tr_velo_to_cam
    camera_box = CameraInstance3DBoxes(np.concatenate([
        obj.location, obj.dimensions[[2, 0, 1]], [obj.rotation_y]])[None])
    lidar_box = camera_box.convert_to(Box3DMode.LIDAR, np.linalg.inv(lidar2cam)).tensor[0]
    lidar_x, _, lidar_z = world.rig['LIDAR_TOP'].translation
    expected = [rel_xy[0] - lidar_x, rel_xy[1], -lidar_z, *size, rel_yaw]
    np.testing.assert_allclose(lidar_box.numpy(), expected, atol=1e-5)


def test_generate_synthetic_writes_kitti(tmp_path):
    out = tmp_path / 'world'
    config = WorldConfig(scene_names=('scene-0916', ), num_keyframes=1)
    generate_synthetic(str(out), config, formats=('kitti', ), progress=False)
    assert sorted(os.listdir(out)) == ['GENERATED.txt', 'kitti']
    assert (out / 'kitti' / 'ImageSets' / 'val.txt').read_text() == '000000\n'
    assert (out / 'kitti' / 'ImageSets' / 'train.txt').read_text() == ''
    assert (out / 'kitti' / 'training' / 'velodyne' / '000000.bin').stat().st_size % 16 == 0
    # write_kitti alone writes the same files
    write_kitti(SyntheticWorld(config), str(tmp_path / 'alone'), progress=False)
    files = {p.relative_to(out / 'kitti'): p.read_bytes()
             for p in (out / 'kitti').rglob('*') if p.is_file()}
    assert files == {p.relative_to(tmp_path / 'alone'): p.read_bytes()
                     for p in (tmp_path / 'alone').rglob('*') if p.is_file()}
    with pytest.raises(TypeError, match='world'):
        write_kitti('not a world', str(tmp_path / 'bad'))


def test_mmdet3d_kitti_dataset_reads_boxes_that_hold_their_lidar_points(root, world, tmp_path):
    from mmcv.ops import points_in_boxes_cpu
    from mmdet3d.datasets import KittiDataset
    from mmdet3d.structures import points_cam2img

    # a v2 info file (mmdet3d's documented KITTI layout) built from the written files
    data_list, labels = [], []
    for frame_id, _, _ in kitti_frames(world):
        calib = read_calib(frame_path(root, 'calib', frame_id, 'txt'))
        anno = read_label(frame_path(root, 'label_2', frame_id, 'txt'))
        lidar2cam = calib['R0_rect'] @ calib['Tr_velo_to_cam']
        instances = []
        for k, name in enumerate(anno['name']):
            box = np.concatenate([anno['location'][k], anno['dimensions'][k],
                                  anno['rotation_y'][k:k + 1]])
            center = points_cam2img(box[None, :3] - [[0, box[4] / 2, 0]], calib['P2'],
                                    with_depth=True)[0]
            label = CLASSES.index(name) if name in CLASSES else -1
            instances.append(dict(bbox=anno['bbox'][k].tolist(), bbox_label=label,
                                  bbox_3d=box.tolist(), bbox_label_3d=label,
                                  center_2d=center[:2].tolist(), depth=float(center[2]),
                                  truncated=float(anno['truncated'][k]),
                                  occluded=int(anno['occluded'][k]),
                                  alpha=float(anno['alpha'][k]), score=0.0))
        data_list.append(dict(
            sample_idx=frame_id, instances=instances,
            images=dict(CAM2=dict(img_path=f'{frame_id:06d}.png', height=900, width=1600,
                                  cam2img=calib['P2'].tolist(), lidar2cam=lidar2cam.tolist(),
                                  lidar2img=(calib['P2'] @ lidar2cam).tolist()),
                        R0_rect=calib['R0_rect'].tolist()),
            lidar_points=dict(num_pts_feats=4, lidar_path=f'{frame_id:06d}.bin',
                              Tr_velo_to_cam=calib['Tr_velo_to_cam'].tolist(),
                              Tr_imu_to_velo=calib['Tr_imu_to_velo'].tolist())))
        labels.append(anno)
    categories = {name: i for i, name in enumerate(CLASSES)}
    categories['DontCare'] = -1
    ann_file = tmp_path / 'kitti_infos_trainval.pkl'
    with open(ann_file, 'wb') as f:
        pickle.dump(dict(metainfo=dict(categories=categories, dataset='kitti',
                                       info_version='1.1'), data_list=data_list), f)
    dataset = KittiDataset(
        data_root=root, ann_file=str(ann_file),
        data_prefix=dict(pts='training/velodyne', img='training/image_2'),
        pipeline=[dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4),
                  dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
                  dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])],
        modality=dict(use_lidar=True, use_camera=True))
    assert len(dataset) == 6
    checked = {'Car': 0}
    for index, (frame_id, scene_index, timestamp) in enumerate(kitti_frames(world)):
        scene = world.scenes[scene_index]
        frame = world.frame(scene, timestamp)
        _, hit = world.lidar_sweep(scene, frame)
        objects = [o for o in kitti_objects(world, frame, hit) if o.name != 'DontCare']
        sample = dataset[index]
        gt = sample['data_samples'].gt_instances_3d
        boxes = gt.bboxes_3d  # LiDARInstance3DBoxes in the velodyne frame
        assert type(boxes).__name__ == 'LiDARInstance3DBoxes' and len(boxes) == len(objects)
        assert [CLASSES[i] for i in gt.labels_3d] == [o.name for o in objects]
        points = sample['inputs']['points'][:, :3]
        assert len(points) == len(hit)
        inside = points_in_boxes_cpu(points[None].float(), boxes.tensor[None].float())[0].numpy()
        for k, obj in enumerate(objects):
            own = hit == obj.agent
            assert inside[own, k].all(), (frame_id, obj.name, k)  # its returns are inside
            assert inside[:, k].sum() == own.sum()  # and nothing else is
            checked[obj.name] = checked.get(obj.name, 0) + int(own.sum() > 0)
    assert checked['Car'] >= 6, checked


def test_2d_boxes_hold_the_projected_centres_and_show_the_object(root, world):
    from mmdet3d.structures import CameraInstance3DBoxes, points_cam2img
    width, height = world.config.image_size
    held = 0
    for frame_id, _, _ in kitti_frames(world):
        calib = read_calib(frame_path(root, 'calib', frame_id, 'txt'))
        anno = read_label(frame_path(root, 'label_2', frame_id, 'txt'))
        image = np.asarray(Image.open(frame_path(root, 'image_2', frame_id, 'png')))
        keep = anno['name'] != 'DontCare'
        boxes = CameraInstance3DBoxes(np.concatenate(
            [anno['location'], anno['dimensions'], anno['rotation_y'][:, None]], 1)[keep])
        centres = points_cam2img(boxes.gravity_center, calib['P2']).numpy()
        corners = boxes.corners.numpy()  # (M, 8, 3)
        for k, (centre, bbox) in enumerate(zip(centres, anno['bbox'][keep])):
            assert boxes.gravity_center[k, 2] > 0
            if 0 <= centre[0] <= width - 1 and 0 <= centre[1] <= height - 1:
                assert bbox[0] <= centre[0] <= bbox[2] and bbox[1] <= centre[1] <= bbox[3]
                held += 1
            if (corners[k, :, 2] > 0.1).all():  # no near-plane clipping: the corners' extent
                uv = points_cam2img(corners[k], calib['P2'])
                expected = np.clip(np.concatenate([uv.min(0), uv.max(0)]), 0,
                                   [width - 1, height - 1] * 2)
                np.testing.assert_allclose(bbox, expected, atol=0.05)  # float32, 4 decimals
        for k in np.nonzero(keep & (anno['name'] == 'Car') & (anno['occluded'] == 0))[0]:
            u, v = ((anno['bbox'][k, :2] + anno['bbox'][k, 2:]) / 2).astype(int)
            r, g, b = image[v, u].astype(int)
            assert r > 2 * g and r > 2 * b, (frame_id, k, (r, g, b))  # the car's red paint
    assert held >= 20


@pytest.fixture
def kitti_eval(monkeypatch):
    """mmdet3d's ``kitti_eval``; without a CUDA GPU its rotated-IoU kernel (numba CUDA only) is
    replaced by :func:`rotate_iou_cpu`, everything else (matching, difficulties, DontCare,
    recall sampling, AP11/AP40) is mmdet3d's."""
    use_cpu_rotate_iou(monkeypatch)
    from mmdet3d.evaluation import kitti_eval
    return kitti_eval


def test_rotate_iou_cpu_matches_known_overlaps():
    boxes = np.array([[0.0, 10.0, 4.0, 2.0, 0.3], [5.0, 20.0, 4.0, 2.0, -np.pi / 2]])
    np.testing.assert_allclose(np.diag(rotate_iou_cpu(boxes, boxes)), 1.0, rtol=1e-6)
    half = boxes.copy()
    half[:, 2] /= 2  # half as long, same centre: IoU 1/2, intersection 4 m^2
    np.testing.assert_allclose(np.diag(rotate_iou_cpu(half, boxes)), 0.5, rtol=1e-5)
    np.testing.assert_allclose(np.diag(rotate_iou_cpu(half, boxes, 2)), 4.0, rtol=1e-5)
    assert rotate_iou_cpu(boxes[:1], boxes[1:])[0, 0] == 0


@pytest.mark.slow  # numba compiles mmdet3d's KITTI evaluation kernels (~10 s)
def test_ground_truth_as_prediction_scores_ap_100(root, world, kitti_eval):
    from mmdet3d.evaluation.functional.kitti_utils.eval import clean_data
    gt_annos, dt_annos = [], []
    for frame_id, _, _ in kitti_frames(world):
        gt = read_label(frame_path(root, 'label_2', frame_id, 'txt'))
        gt_annos.append(gt)
        keep = gt['name'] != 'DontCare'
        dt = {key: value[keep] for key, value in gt.items()}
        # mmdet3d's CUDA rotate_iou_gpu_eval gives 0 or 1/3 for two *identical* rotated boxes
        # (open-mmlab/mmdetection3d#2910), so the predictions are the GT shrunk by 0.1 %
        # (IoU 0.998 in BEV, 0.997 in 3D: above every threshold)
        dt['dimensions'] = dt['dimensions'] * 0.999
        dt['score'] = np.ones(keep.sum())
        dt_annos.append(dt)
    # (class, difficulty) pairs with GT that KITTI evaluates, by mmdet3d's own rules
    valid = {}
    for c, name in enumerate(['Car', 'Pedestrian', 'Cyclist']):
        for level in range(3):
            count = sum(clean_data(g, d, c, level)[0] for g, d in zip(gt_annos, dt_annos))
            if count:
                valid[name, level] = count
    assert {('Car', 0), ('Car', 1), ('Car', 2), ('Pedestrian', 1)} <= set(valid), valid
    # the AP samples 41 recall points, one per score threshold, so a perfect detector scores
    # 100 only with >= 40 evaluated GT per class and difficulty: each frame counts `repeat` times
    repeat = -(-41 // min(valid.values()))
    _, ap = kitti_eval(gt_annos * repeat, dt_annos * repeat, ['Car', 'Pedestrian', 'Cyclist'],
                       eval_types=['bbox', 'bev', '3d'])
    difficulty = ('easy', 'moderate', 'hard')
    checked = 0
    for name, level in sorted(valid):
        for metric in ('BEV', '3D', '2D'):
            for points in ('AP11', 'AP40'):
                for overlap in ('strict', 'loose'):  # Car 0.7 / 0.5, Pedestrian/Cyclist 0.5 / 0.25
                    key = f'KITTI/{name}_{metric}_{points}_{difficulty[level]}_{overlap}'
                    assert ap[key] == pytest.approx(100.0), (key, ap[key])
                    checked += 1
    assert checked >= 4 * 12
    # a control: boxes 1 m off lose the strict 3D match, so the score is not trivially 100
    for dt in dt_annos:
        dt['location'] = dt['location'] + [1.0, 0.0, 0.0]
        dt['alpha'] = np.full(len(dt['alpha']), -10.0)  # no orientation score: BEV and 3D only
    _, ap = kitti_eval(gt_annos * repeat, dt_annos * repeat, ['Car'], eval_types=['bev', '3d'])
    assert ap['KITTI/Car_3D_AP40_moderate_strict'] < 50
