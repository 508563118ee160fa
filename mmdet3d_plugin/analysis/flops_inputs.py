"""One input batch per model type, for counting FLOPs without a dataset.

``tools/analysis_tools/get_flops.py`` builds the model from its config and asks
:func:`build_flops_batch` for a batch in the ``model.data_preprocessor`` format (``inputs`` +
``data_samples``). Builders are looked up by the model's class and then its base classes, so a
subclass (MetaBEV of ``MultiModalBEVDetector``) is served by its parent's builder; a new model
family registers its own with :func:`register_batch_builder`.

Dense FLOPs depend on shapes only (image size, views, batch). Sparse-conv FLOPs depend on how
many voxels the point cloud fills: the builders draw a LiDAR-like scan
(:func:`lidar_like_points`), not points uniform in the box, which would fill far more voxels
than a real sweep does.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

#: nuScenes camera yaws about the LiDAR's z axis (degrees), in the dataset's view order.
RING_YAWS = (0.0, -55.0, 55.0, 180.0, 110.0, -110.0)
#: Horizontal field of view of the ring's pinhole cameras (nuScenes' are ~65-70 degrees).
RING_FOV = 70.0
#: Beam elevations of a 32-beam LiDAR (nuScenes' HDL-32E: -30.67 to +10.67 degrees).
BEAM_ELEVATIONS = tuple(np.linspace(-30.67, 10.67, 32))
#: LiDAR height above the ground plane (metres; nuScenes' roof LiDAR).
LIDAR_HEIGHT = 1.84
#: Points of one nuScenes LiDAR sweep (about 34,700).
SWEEP_POINTS = 34720


@dataclass(frozen=True)
class FlopsInputs:
    """What to feed the model.

    Attributes:
        batch_size (int): Samples in the batch.
        image_size (tuple, optional): ``(H, W)`` network input; None: the model's own
            (e.g. ``view_transform.image_size``).
        num_points (int): LiDAR points per sample.
        seed (int): Seed of the random images and points.
    """
    batch_size: int = 1
    image_size: Optional[Tuple[int, int]] = None
    num_points: int = SWEEP_POINTS
    seed: int = 0


BatchBuilder = Callable[[nn.Module, dict, FlopsInputs], dict]
BATCH_BUILDERS: Dict[str, BatchBuilder] = {}


def register_batch_builder(*type_names: str) -> Callable[[BatchBuilder], BatchBuilder]:
    """Register ``builder(model, model_cfg, options) -> batch`` for models of these class
    names (and their subclasses)."""
    def register(builder: BatchBuilder) -> BatchBuilder:
        for name in type_names:
            if name in BATCH_BUILDERS:
                raise KeyError(f'register_batch_builder: {name!r} already has a builder '
                               f'({BATCH_BUILDERS[name].__name__})')
            BATCH_BUILDERS[name] = builder
        return builder
    return register


def build_flops_batch(model: nn.Module, model_cfg: dict, options: FlopsInputs = FlopsInputs()
                      ) -> dict:
    """A batch for ``model.data_preprocessor`` from the builder of the model's type.

    Args:
        model (nn.Module): The built model.
        model_cfg (dict): Its config (``cfg.model``).
        options (FlopsInputs): Batch size, image size, points, seed.

    Returns:
        dict: ``inputs`` (``img``: B tensors ``(N, 3, H, W)``, ``points``: B tensors
        ``(P, C)``, as the model needs) and ``data_samples``.

    Raises:
        KeyError: no builder for the model's type or any of its base classes.
        ValueError: options the model cannot take (the builder says which).
    """
    for klass in type(model).__mro__:
        if klass.__name__ in BATCH_BUILDERS:
            return BATCH_BUILDERS[klass.__name__](model, model_cfg, options)
    raise KeyError(f'get_flops: no input builder for model.type {model_cfg.get("type")!r} '
                   f'({type(model).__name__}) or its base classes; supported: '
                   f'{sorted(BATCH_BUILDERS)}. Register one with register_batch_builder '
                   '(mmdet3d_plugin/analysis/flops_inputs.py)')


def ring_rig(image_size: Tuple[int, int], yaws: Sequence[float] = RING_YAWS,
             fov: float = RING_FOV) -> Tuple[np.ndarray, np.ndarray]:
    """``cam2img`` and ``lidar2cam`` ``(N, 4, 4)`` float32 of pinhole cameras at the LiDAR
    origin looking along ``yaws`` (degrees), intrinsics at ``image_size`` ``(H, W)``."""
    height, width = image_size
    focal = width / 2 / np.tan(np.radians(fov) / 2)
    cam2img, lidar2cam = [], []
    for yaw in np.radians(np.asarray(yaws, dtype=np.float64)):
        intrinsic = np.eye(4)
        intrinsic[:3, :3] = [[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]]
        # camera axes in the LiDAR frame: x right, y down, z forward
        right, down = [np.sin(yaw), -np.cos(yaw), 0.0], [0.0, 0.0, -1.0]
        cam2lidar = np.eye(4)
        cam2lidar[:3, :3] = np.stack([right, down, [np.cos(yaw), np.sin(yaw), 0.0]], axis=1)
        cam2img.append(intrinsic)
        lidar2cam.append(np.linalg.inv(cam2lidar))
    return np.stack(cam2img).astype(np.float32), np.stack(lidar2cam).astype(np.float32)


def lidar_like_points(num_points: int, dims: int, rng: np.random.Generator,
                      max_range: float = 60.0) -> torch.Tensor:
    """``(num_points, dims)`` float32 points of a 32-beam scan, LiDAR frame.

    Each return lies on a random beam (:data:`BEAM_ELEVATIONS`) and azimuth, at the first of
    the ground plane (:data:`LIDAR_HEIGHT` below the sensor) and an obstacle at a range drawn
    uniformly in ``[2, max_range]`` m; columns 3+ are uniform in ``[0, 1)`` (intensity, time).
    """
    elevation = np.radians(rng.choice(BEAM_ELEVATIONS, size=num_points))
    azimuth = rng.uniform(-np.pi, np.pi, size=num_points)
    obstacle = rng.uniform(2.0, max_range, size=num_points)
    with np.errstate(divide='ignore'):
        ground = np.where(elevation < 0, LIDAR_HEIGHT / np.tan(-elevation), np.inf)
    radius = np.minimum(ground, obstacle)
    xyz = np.stack([radius * np.cos(elevation) * np.cos(azimuth),
                    radius * np.cos(elevation) * np.sin(azimuth),
                    radius * np.sin(elevation)], axis=1)
    extra = rng.uniform(0.0, 1.0, size=(num_points, max(dims - 3, 0)))
    return torch.from_numpy(np.hstack([xyz, extra])[:, :dims]).float()


def _point_dims(voxel_encoder: nn.Module) -> int:
    for name in ('num_features', 'in_channels'):
        value = getattr(voxel_encoder, name, None)
        if isinstance(value, int):
            return value
    raise AttributeError(f'{type(voxel_encoder).__name__} exposes neither num_features nor '
                         'in_channels: cannot tell how many values a point has')


def _camera_inputs(model: nn.Module, options: FlopsInputs, inputs: dict, meta: dict) -> None:
    """Add ring-rig images (``inputs['img']``) and their matrices (``meta``)."""
    size = tuple(model.view_transform.image_size)
    if options.image_size is not None and tuple(options.image_size) != size:
        raise ValueError(f'image size {tuple(options.image_size)} differs from '
                         f'model.view_transform.image_size {size}: the LSS frustum is built '
                         'for one size; set model.view_transform.image_size and feature_size '
                         '(--cfg-options) instead')
    cam2img, lidar2cam = ring_rig(size)
    views = cam2img.shape[0]
    meta.update(cam2img=cam2img, lidar2cam=lidar2cam, num_views=views,
                img_aug_matrix=np.repeat(np.eye(4, dtype=np.float32)[None], views, 0))
    generator = torch.Generator().manual_seed(options.seed)
    inputs['img'] = [torch.rand((views, 3) + size, generator=generator) * 255
                     for _ in range(options.batch_size)]


@register_batch_builder('MultiModalBEVDetector')
def bev_detector_batch(model: nn.Module, model_cfg: dict, options: FlopsInputs) -> dict:
    """Six ring-rig images and/or a LiDAR-like scan per sample, as the model has branches.

    Raises:
        ValueError: ``options.image_size`` is given for a model without cameras, or is not
            ``model.view_transform.image_size``.
    """
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
    rng = np.random.default_rng(options.seed)
    inputs, meta = {}, dict(box_type_3d=LiDARInstance3DBoxes,
                            lidar_aug_matrix=np.eye(4, dtype=np.float32))
    if model.has_camera:
        _camera_inputs(model, options, inputs, meta)
    elif options.image_size is not None:
        raise ValueError(f'an image size {tuple(options.image_size)} was given, but the model '
                         'has no camera branch (model.img_backbone is None)')
    if model.has_lidar:
        dims = _point_dims(model.pts_voxel_encoder)
        inputs['points'] = [lidar_like_points(options.num_points, dims, rng)
                            for _ in range(options.batch_size)]
    samples = [Det3DDataSample(metainfo=dict(meta)) for _ in range(options.batch_size)]
    return dict(inputs=inputs, data_samples=samples)


@register_batch_builder('CameraOccupancyDetector')
def camera_occupancy_batch(model: nn.Module, model_cfg: dict, options: FlopsInputs) -> dict:
    """Six ring-rig images per sample; ``lidar2occ`` the identity (a LiDAR-frame grid: the
    frame does not change any shape).

    Raises:
        ValueError: ``options.image_size`` is not ``model.view_transform.image_size``.
    """
    from mmdet3d.structures import Det3DDataSample
    inputs, meta = {}, dict(lidar2occ=np.eye(4, dtype=np.float32))
    _camera_inputs(model, options, inputs, meta)
    samples = [Det3DDataSample(metainfo=dict(meta)) for _ in range(options.batch_size)]
    return dict(inputs=inputs, data_samples=samples)
