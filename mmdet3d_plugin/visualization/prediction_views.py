"""Pictures of a model's predictions on one dataset sample (``tools/visualize_predictions.py``).

``pred_cameras.png``: the sample's original camera JPEGs with predicted boxes (solid, class
colour, ``score >= score_thr``) and GT boxes (thin dashed grey), projected with
``cam2img @ lidar2cam``; ``pred_bev.png``: GT map masks, GT boxes and LiDAR points (left),
predicted map masks and boxes (right), x forward up (see :mod:`.prediction_bev`);
``pred_occupancy.png`` when the model predicts semantic occupancy (the output sample carries
``pred_occ``, whatever the model): GT and predicted voxels in 3D and from above
(:mod:`.occupancy_prediction_view`), the grid read from the pipeline's ``OccupancyFrame``. A
model that predicts occupancy but neither boxes nor map masks gets no ``pred_bev.png`` (its
prediction panel would be empty).

The model is built like mmdet3d's ``init_model`` (``cfg.model`` through our ``MODELS``, the
checkpoint loaded, eval mode) and runs ``test_step`` on a pseudo-collated batch of the one
sample from ``<split>_dataloader.dataset``. Predictions live in the sample's LiDAR frame (or
the frame of its ``lidar_aug_matrix`` when the pipeline augmented it; boxes are moved back for
the cameras).
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from .bev_axes import forward_axis_of
from .box_geometry import lidar_box_corners, transform_points
from .camera_view import corner_segments, render_camera_mosaic
from .figures import class_handles
from .palettes import class_color, plain_style
from .prediction_bev import BEVLayer, render_prediction_bev

SPLITS = ('val', 'test')
GT_STYLE = dict(color=(0.45, 0.45, 0.45), linestyle='--', linewidth=0.8)
PRED_LINEWIDTH = 1.4


def load_config(cfg_or_path):
    """An mmengine ``Config`` from a path or a ``Config`` (returned as is)."""
    from mmengine.config import Config
    if isinstance(cfg_or_path, Config):
        return cfg_or_path
    if not osp.isfile(str(cfg_or_path)):
        raise FileNotFoundError(f'config file not found: {cfg_or_path}')
    return Config.fromfile(str(cfg_or_path))


def build_model(cfg, checkpoint: str, device: str = 'cpu', trust_checkpoint: bool = False):
    """``cfg.model`` built through ``mmdet3d_plugin.registry.MODELS``, ``checkpoint`` loaded
    (weights-only, or fully unpickled with ``trust_checkpoint``; see
    :mod:`mmdet3d_plugin.engine.safe_load`), in eval mode on ``device`` (mmdet3d ``init_model``
    style)."""
    from mmengine.registry import DefaultScope

    from ..engine.safe_load import load_model_checkpoint
    from ..registry import MODELS
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {checkpoint}')
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet3d_plugin')):
        model = MODELS.build(cfg.model)
    load_model_checkpoint(model, checkpoint, map_location='cpu', trusted=trust_checkpoint,
                          logger='silent')
    return model.to(device).eval()


def build_split_dataset(cfg, split: str = 'val'):
    """The dataset of ``cfg[f'{split}_dataloader']`` built under the config's scope."""
    from mmengine.registry import DefaultScope

    from ..registry import DATASETS
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} (a test-mode dataset with evaluation "
                         f'annotations), got {split!r}')
    key = f'{split}_dataloader'
    if key not in cfg or 'dataset' not in cfg[key]:
        raise KeyError(f'config {cfg.filename} has no {key}.dataset')
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet3d_plugin')):
        return DATASETS.build(cfg[key].dataset)


def predict_sample(model, dataset, index: int):
    """``(packed dataset item, output data sample)`` of sample ``index``."""
    import torch
    from mmengine.dataset import pseudo_collate
    if not 0 <= index < len(dataset):
        raise IndexError(f'sample index {index} out of range: the dataset has {len(dataset)} '
                         f'samples, expected 0 <= index < {len(dataset)}')
    item = dataset[index]
    with torch.no_grad():
        result = model.test_step(pseudo_collate([item]))[0]
    return item, result


def _numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, 'detach') else np.asarray(value)


def camera_sources(sample, dataset, index: int) -> List[dict]:
    """The original cameras of a sample: ``[{'name', 'path', 'cam2img' (4, 4), 'lidar2cam'
    (4, 4)}]``, from the data sample's multi-view metainfo (``cam_names``, ``img_path``
    ... of ``LoadMultiViewImages``) or else
    from the dataset's info ``images`` (LiDAR-only pipelines, where mmdet3d's metainfo holds
    at most the default camera); ``[]`` when the info has no cameras."""
    from ..datasets.transforms.loading_multiview import pad_intrinsics
    meta = sample.metainfo
    paths = meta.get('img_path')
    names = meta.get('cam_names')
    multi_view = (isinstance(paths, (list, tuple)) and names is not None
                  and len(names) == len(paths) and 'cam2img' in meta and 'lidar2cam' in meta)
    if multi_view:  # LoadMultiViewImages: one entry per view ('' = dropped view)
        return [dict(name=name, path=path, cam2img=pad_intrinsics(k, f'metainfo cam2img[{i}]'),
                     lidar2cam=np.asarray(t, np.float64))
                for i, (name, path, k, t) in enumerate(zip(names, paths, meta['cam2img'],
                                                           meta['lidar2cam']))]
    images = dataset.get_data_info(index).get('images') or {}
    joined = bool(getattr(dataset, 'modality', {}).get('use_camera'))
    sources = []
    for name, info in images.items():
        if not {'img_path', 'cam2img', 'lidar2cam'} <= set(info):
            continue
        path = info['img_path']
        if not joined:
            prefix = dataset.data_prefix.get(name, dataset.data_prefix.get('img', ''))
            path = osp.join(prefix, path)
        sources.append(dict(name=name, path=path,
                            cam2img=pad_intrinsics(info['cam2img'], f"info images['{name}']"),
                            lidar2cam=np.asarray(info['lidar2cam'], np.float64)))
    return sources


def camera_strokes(corners: np.ndarray, source: dict, image_size, styles: Sequence[dict]) -> list:
    """Strokes (see :func:`~.camera_view.render_camera_mosaic`) of LiDAR-frame box corners
    ``(N, 8, 3)`` seen by one camera; ``styles[i]`` is box ``i``'s colour/linestyle/width.
    Boxes behind the camera or outside the image give no stroke."""
    strokes = []
    for box, style in zip(corners, styles):
        segments = corner_segments(transform_points(box, source['lidar2cam']),
                                   source['cam2img'], image_size)
        if len(segments):
            strokes.append(dict(style, segments=segments))
    return strokes


def _image_size(sources: Sequence[dict]):
    from PIL import Image
    for source in sources:
        if source['path']:
            if not osp.isfile(source['path']):
                raise FileNotFoundError(f"image of {source['name']} not found: {source['path']}")
            with Image.open(source['path']) as picture:
                return picture.size
    return None


def _names(labels: np.ndarray, class_names: Sequence[str]) -> List[Optional[str]]:
    return [class_names[k] if 0 <= k < len(class_names) else None for k in labels.tolist()]


def _mask_names(masks, names: Optional[Sequence[str]]) -> Optional[tuple]:
    """Channel names of ``(C, X, Y)`` masks: ``names``, else BEVFusion's six map classes
    when ``C == 6``, else ``map_0 ... map_{C-1}`` (None without masks)."""
    from ..structures.bev_map import BEV_MAP_CLASSES
    if masks is None:
        return None
    if names is not None:
        return tuple(names)
    count = len(masks)
    return tuple(BEV_MAP_CLASSES) if count == len(BEV_MAP_CLASSES) else tuple(
        f'map_{k}' for k in range(count))


def _map_layout(dataset):
    """``(classes, bev_range)`` of the pipeline's ``LoadBEVMapGT`` (None, None without one)."""
    for transform in getattr(dataset.pipeline, 'transforms', []):
        if type(transform).__name__ == 'LoadBEVMapGT':
            (x_min, x_max, _), (y_min, y_max, _) = transform.xbound, transform.ybound
            return tuple(transform.classes), (x_min, y_min, x_max, y_max)
    return None, None


@plain_style()
def render_predictions(cfg_or_path: Union[str, object], checkpoint: str, out_dir: str,
                       sample_index: int = 0, score_thr: float = 0.3, split: str = 'val',
                       device: str = 'cpu', map_thr: float = 0.5,
                       trust_checkpoint: bool = False) -> Dict[str, str]:
    """Run a model on one sample and write ``pred_cameras.png`` and ``pred_bev.png``.

    Args:
        cfg_or_path (str | Config): The model's config (``model`` and
            ``<split>_dataloader.dataset``).
        checkpoint (str): Checkpoint file (``state_dict`` of ``cfg.model``).
        out_dir (str): Folder for the PNGs (created if needed).
        sample_index (int): Index into the split's dataset.
        score_thr (float): Predicted boxes with a lower score are not drawn.
        split (str): ``'val'`` or ``'test'``.
        device (str): Where the model runs.
        map_thr (float): Predicted map probabilities at or above it are drawn.
        trust_checkpoint (bool): Fully unpickle ``checkpoint`` (it can run code) instead of
            the safe weights-only loading.

    Returns:
        dict: ``{'pred_cameras' | 'pred_bev' | 'pred_occupancy': absolute PNG path}`` (no
        ``pred_cameras`` when the dataset has no cameras; ``pred_occupancy`` when the model
        predicts ``pred_occ``, then no ``pred_bev`` unless it predicts boxes or map masks too).

    Raises:
        FileNotFoundError: Missing config, checkpoint or camera image.
        IndexError: ``sample_index`` out of range.
        KeyError / ValueError: Unknown split or a config without it.
        CheckpointError: A refused, empty, truncated or foreign checkpoint (a ValueError).
    """
    from ..utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = load_config(cfg_or_path)
    dataset = build_split_dataset(cfg, split)
    if not 0 <= sample_index < len(dataset):
        raise IndexError(f'sample index {sample_index} out of range: {split} split has '
                         f'{len(dataset)} samples, expected 0 <= index < {len(dataset)}')
    model = build_model(cfg, checkpoint, device, trust_checkpoint)
    item, result = predict_sample(model, dataset, sample_index)
    class_names = list(dataset.metainfo.get('classes') or [])

    pred = result.get('pred_instances_3d')
    keep = (_numpy(pred.scores_3d) >= score_thr) if pred is not None else np.zeros(0, bool)
    pred_corners = lidar_box_corners(pred.bboxes_3d[keep]) if keep.any() else np.zeros((0, 8, 3))
    pred_names = _names(_numpy(pred.labels_3d)[keep], class_names) if keep.any() else []
    ann = result.get('eval_ann_info') or {}
    gt_boxes = ann.get('gt_bboxes_3d')
    if gt_boxes is None and 'gt_instances_3d' in result:
        gt_boxes = result.gt_instances_3d.get('bboxes_3d')
    gt_corners = lidar_box_corners(gt_boxes)
    gt_labels = ann.get('gt_labels_3d', np.full(len(gt_corners), -1))
    gt_names = _names(np.asarray(gt_labels).reshape(-1), class_names)
    aug = np.asarray(result.metainfo.get('lidar_aug_matrix', np.eye(4)), np.float64)

    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    sources = camera_sources(result, dataset, sample_index)
    size = _image_size(sources)
    if sources and size is not None:
        styles = ([GT_STYLE] * len(gt_corners)
                  + [dict(color=class_color(n), linewidth=PRED_LINEWIDTH) for n in pred_names])
        corners = np.concatenate([gt_corners,
                                  transform_points(pred_corners, np.linalg.inv(aug))])
        views = {s['name']: dict(path=s['path'], size=size,
                                 strokes=camera_strokes(corners, s, size, styles))
                 for s in sources}
        shown = [n for n in class_names if n in set(pred_names)]
        handles = class_handles(shown) + _gt_handle()
        written['pred_cameras'] = os.path.join(out_dir, 'pred_cameras.png')
        render_camera_mosaic(views, written['pred_cameras'], handles)

    title = (f"{osp.basename(str(cfg.filename or 'config'))}  {split}[{sample_index}]  "
             f"{result.metainfo.get('token', '')}")
    if 'pred_occ' in result:
        written['pred_occupancy'] = os.path.join(out_dir, 'pred_occupancy.png')
        _render_occupancy(result, dataset, sample_index, written['pred_occupancy'], title)
        if pred is None and 'masks_bev' not in result:
            return written
    map_classes, bev_range = _map_layout(dataset)
    gt_masks = result.get('gt_masks_bev')
    pred_masks = result.get('masks_bev')
    map_classes = _mask_names(gt_masks, map_classes)
    pred_map_classes = _mask_names(
        pred_masks, getattr(getattr(model, 'seg_head', None), 'classes', None) or map_classes)
    written['pred_bev'] = os.path.join(out_dir, 'pred_bev.png')
    render_prediction_bev(
        points=_numpy(item['inputs']['points']) if 'points' in item['inputs'] else None,
        gt=BEVLayer(corners=transform_points(gt_corners, aug), names=gt_names,
                    masks=None if gt_masks is None else _numpy(gt_masks) > 0,
                    mask_classes=map_classes),
        pred=BEVLayer(corners=pred_corners, names=pred_names,
                      masks=None if pred_masks is None else _numpy(pred_masks) >= map_thr,
                      mask_classes=pred_map_classes),
        out_path=written['pred_bev'], bev_range=bev_range or (-50.0, -50.0, 50.0, 50.0),
        title=title, score_note=f'score >= {score_thr:g}, map p >= {map_thr:g}',
        forward=forward_axis_of(_lidar2ego(dataset, sample_index)))
    return written


def occupancy_grid_of(dataset, shape: Sequence[int]):
    """The ``OccupancyGrid`` of the dataset's pipeline (its ``OccupancyFrame``), else the
    benchmark grid of that ``shape`` (Occ3D-nuScenes, nuScenes-Occupancy).

    Raises:
        ValueError: no ``OccupancyFrame`` and no benchmark grid of ``shape``, or a pipeline grid
            of another shape than the prediction's.
    """
    from ..structures.occupancy_grid import OccupancyGrid
    shape = tuple(int(n) for n in shape)
    for transform in getattr(dataset.pipeline, 'transforms', []):
        grid = getattr(transform, 'grid', None)
        if type(transform).__name__ == 'OccupancyFrame' and isinstance(grid, OccupancyGrid):
            if grid.shape != shape:
                raise ValueError(f'pred_occ has shape {shape} but the pipeline\'s OccupancyFrame '
                                 f'grid is {grid.shape}')
            return grid
    for grid in (OccupancyGrid.occ3d_nuscenes(), OccupancyGrid.nuscenes_occupancy()):
        if grid.shape == shape:
            return grid
    raise ValueError(f'pred_occ has shape {shape}: the pipeline has no OccupancyFrame and no '
                     'benchmark grid (Occ3D 200x200x16, nuScenes-Occupancy 512x512x40) has it')


def _render_occupancy(result, dataset, index: int, out_path: str, title: str) -> None:
    """``pred_occupancy.png`` of one output sample (``pred_occ``, and ``gt_occ`` /
    ``mask_camera`` when the split has them), grid flips (meta ``occ_flip``) undone."""
    from .occupancy_prediction_view import render_occupancy_prediction
    flip = result.metainfo.get('occ_flip') or (False, False)
    flipped = tuple(axis for axis in (0, 1) if flip[axis])  # back to the grid's own frame

    def unflipped(value):
        return None if value is None else np.flip(_numpy(value), flipped)

    pred = unflipped(result.pred_occ)
    grid = occupancy_grid_of(dataset, pred.shape)
    ego = grid.frame_of == 'ego'
    render_occupancy_prediction(
        pred, out_path, grid, gt=unflipped(result.get('gt_occ')),
        mask_camera=unflipped(result.get('mask_camera')),
        forward='+x' if ego else forward_axis_of(_lidar2ego(dataset, index)),
        frame='ego' if ego else 'LiDAR', title=title)


def _lidar2ego(dataset, index: int) -> Optional[np.ndarray]:
    """The sample's ``lidar_points.lidar2ego`` (None when the infos have none, e.g. KITTI's,
    whose Velodyne frame has x forward)."""
    info = dataset.get_data_info(index)
    matrix = (info.get('lidar_points') or {}).get('lidar2ego')
    return None if matrix is None else np.asarray(matrix, dtype=np.float64)


def _gt_handle() -> list:
    from matplotlib.lines import Line2D
    return [Line2D([], [], label='ground truth', **GT_STYLE)]
