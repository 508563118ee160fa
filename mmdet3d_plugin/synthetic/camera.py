"""Camera renderer of the synthetic world: the six nuScenes cameras by the painter's algorithm.

Each image is drawn back to front: a sky gradient and hazy terrain (cached per camera), the
map layers within :data:`GROUND_RADIUS` of the ego (car park, drivable area, walkways, road
dividers, stop lines, zebra crossings), then the faces of the agents and static boxes, farthest
first, each shaded by its normal against a fixed sun direction (brightness only, so a class's
hue stays that of ``ObjectClass.color``). Polygons are clipped against the near plane in 3D
before projection. Conventions are the rig's: camera x right, y down, z forward,
``frame.sensor_pose(sensor)`` is camera-to-global and ``pixel = K @ x_cam / z``.
"""
import weakref
from dataclasses import dataclass
from typing import Dict, List, Tuple

import cv2
import numpy as np
import shapely
from shapely.geometry import Point, box
from shapely.ops import unary_union

from .camera_geometry import (box_quads, clip_polygon, clip_polygons, rectangle_corners,
                              zebra_stripes)
from .rig import CAMERA_NAMES, Sensor

NEAR_PLANE = 0.1  # metres in front of the camera
GROUND_RADIUS = 80.0  # map and boxes are drawn within this distance of the ego
SUN = np.array([0.45, 0.3, 0.84]) / np.linalg.norm([0.45, 0.3, 0.84])  # towards the light
COLORS = {
    'sky_zenith': (95, 145, 215), 'sky_horizon': (205, 220, 235), 'haze': (175, 185, 195),
    'terrain': (105, 120, 80), 'drivable_area': (72, 72, 75), 'walkway': (165, 163, 158),
    'carpark_area': (110, 95, 120), 'road_divider': (225, 195, 60), 'stop_line': (240, 240, 240),
    'ped_crossing': (235, 235, 235),
}
BUILDING_COLORS = ((214, 196, 160), (190, 160, 120), (160, 120, 88), (200, 182, 150),
                   (176, 140, 105))
VEGETATION_COLORS = ((45, 115, 40), (60, 130, 50), (38, 100, 45))
_SHIFT = 4  # cv2 sub-pixel bits
_NOISE_STD = 2.0  # grey-level sensor noise


@dataclass
class _WorldAssets:
    """Per-world drawing data: big map layers (clipped to the ego's disc per frame) in drawing
    order and small ground marks as quads ``(K, 4, 2)`` with their colours ``(K, 3)``."""
    layers: List[Tuple[Tuple[int, int, int], object]]
    marks: np.ndarray
    mark_colors: np.ndarray


@dataclass
class _FrameGeometry:
    """Per-frame drawing data shared by the six cameras (global frame)."""
    ground: List[Tuple[Tuple[int, int, int], List[np.ndarray]]]  # colour, rings (N, 3)
    marks: np.ndarray  # (K, 4, 3)
    mark_colors: np.ndarray  # (K, 3) uint8
    quads: np.ndarray  # (P, 4, 3)
    normals: np.ndarray  # (P, 3)
    anchors: np.ndarray  # (P, 2)
    quad_colors: np.ndarray  # (P, 3) uint8


_ASSETS: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()
_BACKGROUNDS: Dict[tuple, tuple] = {}  # backgrounds and noise fields


def camera_to_global(world, frame, camera_name: str) -> Tuple[np.ndarray, np.ndarray]:
    """Camera-to-global ``(rotation (3, 3), translation (3,))`` of ``camera_name``."""
    return frame.sensor_pose(world.rig[camera_name])


def project_points(world, frame, camera_name: str,
                   points_global: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Project global points into a camera of the rig.

    Args:
        world (SyntheticWorld): The world (its rig gives extrinsics and intrinsics).
        frame (FrameState): The frame (ego pose).
        camera_name (str): One of :data:`CAMERA_NAMES`.
        points_global (np.ndarray): ``(N, 3)`` points in the global frame.

    Returns:
        tuple: ``uv (N, 2)`` pixel coordinates and ``depth (N,)`` camera z in metres; ``uv`` is
        meaningful only where ``depth > 0``.
    """
    rotation, translation = camera_to_global(world, frame, camera_name)
    cam = (np.asarray(points_global, dtype=np.float64).reshape(-1, 3) - translation) @ rotation
    return _pixels(cam, world.rig[camera_name].intrinsic), cam[:, 2]


def _pixels(cam: np.ndarray, intrinsic: np.ndarray) -> np.ndarray:
    """Camera-frame points ``(..., 3)`` -> pixels ``(..., 2)``; depth near 0 is kept finite."""
    uvw = cam @ intrinsic.T
    z = uvw[..., 2:]
    z = np.where(np.abs(z) < 1e-9, 1e-9, z)
    return uvw[..., :2] / z


def render_all(world, frame) -> Dict[str, np.ndarray]:
    """Render the six cameras of ``frame``: ``{name: (H, W, 3) uint8 RGB}`` in rig order."""
    geometry = _frame_geometry(world, frame)
    return {name: _render(world, frame, name, geometry) for name in CAMERA_NAMES}


def render_camera(world, frame, camera_name: str) -> np.ndarray:
    """Render one camera of the rig.

    Args:
        world (SyntheticWorld): The world.
        frame (FrameState): State of a scene at one timestamp.
        camera_name (str): One of :data:`CAMERA_NAMES`.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB image, ``(W, H)`` = the sensor's ``image_size``.
    """
    return _render(world, frame, camera_name, _frame_geometry(world, frame))


def _render(world, frame, camera_name: str, geometry: _FrameGeometry) -> np.ndarray:
    """Draw one camera back to front: background, ground, haze, box quads, noise."""
    sensor = world.rig[camera_name]
    rotation, translation = camera_to_global(world, frame, camera_name)
    background, haze = _background(sensor, rotation, float(translation[2]))
    image = background.copy()

    def to_cam(points: np.ndarray) -> np.ndarray:  # global (..., 3) -> camera (..., 3)
        return (points - translation) @ rotation

    for color, rings in geometry.ground:
        polygons = [_project_polygon(to_cam(ring), sensor) for ring in rings]
        polygons = [p for p in polygons if p is not None]
        if polygons and _overlaps_image(np.concatenate(polygons), sensor):
            cv2.fillPoly(image, polygons, color, cv2.LINE_8, _SHIFT)
    _fill_quads(image, to_cam(geometry.marks), geometry.mark_colors,
                np.arange(len(geometry.marks)), sensor)
    _apply_haze(image, haze)
    if len(geometry.quads):
        facing = np.einsum('pj,pj->p', geometry.quads.mean(1) - translation, geometry.normals) < 0
        distance = np.linalg.norm(geometry.anchors - translation[:2], axis=1)
        order = np.nonzero(facing)[0]
        order = order[np.argsort(-distance[order], kind='stable')]  # farthest first
        _fill_quads(image, to_cam(geometry.quads), geometry.quad_colors, order, sensor)
    return _add_noise(image, [world.config.seed, frame.timestamp % (2**31), 11,
                              CAMERA_NAMES.index(camera_name)])


def _project_polygon(cam: np.ndarray, sensor: Sensor):
    """Clip a camera-frame ring ``(N, 3)`` at the near plane and project it to cv2's fixed-point
    pixels ``(M, 2)`` int32 (``None`` when nothing is left)."""
    if cam[:, 2].max() < NEAR_PLANE:
        return None
    clipped = clip_polygon(cam, NEAR_PLANE)
    if len(clipped) < 3:
        return None
    return np.round(_pixels(clipped, sensor.intrinsic) * (1 << _SHIFT)).astype(np.int32)


def _overlaps_image(fixed_points: np.ndarray, sensor: Sensor) -> bool:
    """Whether the bounding box of fixed-point pixels ``(N, 2)`` overlaps the image."""
    width, height = sensor.image_size
    lo, hi = fixed_points.min(0) >> _SHIFT, fixed_points.max(0) >> _SHIFT
    return bool(hi[0] >= 0 and hi[1] >= 0 and lo[0] < width and lo[1] < height)


def _fill_quads(image: np.ndarray, quads_cam: np.ndarray, colors: np.ndarray, order: np.ndarray,
                sensor: Sensor) -> None:
    """Fill camera-frame quads ``(P, 4, 3)`` in ``order`` (indices), clipped at the near plane."""
    if len(order) == 0:
        return
    quads_cam = quads_cam[order]
    vertices, keep = clip_polygons(quads_cam, NEAR_PLANE)
    fixed = np.round(_pixels(vertices, sensor.intrinsic) * (1 << _SHIFT))
    width, height = sensor.image_size
    lo = np.where(keep[..., None], fixed, np.inf).min(1) / (1 << _SHIFT)
    hi = np.where(keep[..., None], fixed, -np.inf).max(1) / (1 << _SHIFT)
    show = ((keep.sum(1) >= 3) & (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] < width)
            & (lo[:, 1] < height))
    fixed = np.where(keep[..., None], fixed, 0).astype(np.int32)  # dropped vertices may be inf
    color_list = colors[order].tolist()
    for p in np.nonzero(show)[0]:
        cv2.fillPoly(image, [fixed[p][keep[p]]], color_list[p], cv2.LINE_8, _SHIFT)


def _apply_haze(image: np.ndarray, haze: Tuple[int, np.ndarray, np.ndarray]) -> None:
    """Blend the ground rows (from ``haze[0]`` down) towards the haze colour in place.

    ``haze`` is ``(first_row, keep (h, W) float32, alpha (h, W) float32)`` with keep + alpha = 1.
    """
    first, keep, alpha = haze
    rows = image[first:]
    rows[...] = cv2.blendLinear(rows, np.full_like(rows, COLORS['haze']), keep, alpha)


def _add_noise(image: np.ndarray, seed: List[int]) -> np.ndarray:
    """Add deterministic grey-level noise (std :data:`_NOISE_STD`): a window of a fixed noise
    field at an offset drawn from ``seed``."""
    height, width = image.shape[:2]
    key = ('noise', height, width)
    if key not in _BACKGROUNDS:
        field = np.round(np.random.default_rng(0).normal(0.0, _NOISE_STD,
                                                         (height + 64, width + 64, 1)))
        field = np.repeat(np.clip(field, -8, 8), 3, axis=2)
        _BACKGROUNDS[key] = (np.maximum(field, 0).astype(np.uint8),
                             np.maximum(-field, 0).astype(np.uint8))
    up, down = _BACKGROUNDS[key]
    dy, dx = np.random.default_rng(seed).integers(0, 64, 2)
    image = cv2.add(image, np.ascontiguousarray(up[dy:dy + height, dx:dx + width]))
    return cv2.subtract(image, np.ascontiguousarray(down[dy:dy + height, dx:dx + width]))


def _background(sensor: Sensor, rotation: np.ndarray, height: float) -> Tuple[np.ndarray, tuple]:
    """Sky gradient above the horizon, terrain below, and the ground haze weights.

    Depends only on the camera's orientation relative to gravity and its height, so it is
    cached. Returns ``image (H, W, 3)`` uint8 and the haze weights for :func:`_apply_haze`.
    """
    up_cam = rotation[2]  # global z in camera coordinates
    key = (sensor.image_size, tuple(np.round(sensor.intrinsic.ravel(), 6)),
           tuple(np.round(up_cam, 6)), round(height, 3))
    if key not in _BACKGROUNDS:
        width, height_px = sensor.image_size
        u, v = np.meshgrid(np.arange(width), np.arange(height_px))
        pix = np.stack([u, v, np.ones_like(u)], -1).astype(np.float64)
        rays = pix @ np.linalg.inv(sensor.intrinsic).T
        sin_el = rays @ up_cam / np.linalg.norm(rays, axis=-1)  # (H, W)
        sky_t = np.clip(sin_el / 0.6, 0, 1)[..., None] ** 0.7
        sky = (1 - sky_t) * COLORS['sky_horizon'] + sky_t * np.array(COLORS['sky_zenith'])
        tan_down = np.maximum(-sin_el, 1e-6) / np.sqrt(np.maximum(1 - sin_el**2, 1e-12))
        distance = height / tan_down  # along the ground
        alpha = np.where(sin_el < 0, 0.7 * (1 - np.exp(-distance / 160.0)), 0.0)
        ground = np.broadcast_to(np.array(COLORS['terrain'], dtype=np.float64), sky.shape)
        image = np.where(sin_el[..., None] >= 0, sky, ground)
        rows = np.nonzero((alpha > 0).any(1))[0]
        first = int(rows[0]) if len(rows) else height_px
        alpha = alpha[first:].astype(np.float32)
        _BACKGROUNDS[key] = (np.round(image).astype(np.uint8), (first, 1 - alpha, alpha))
    return _BACKGROUNDS[key]


def _world_assets(world) -> _WorldAssets:
    """Drawing data that depends only on the world (cached per world)."""
    if world in _ASSETS:
        return _ASSETS[world]
    road_map = world.road_map
    layers = road_map.layers
    half = road_map.road_width / 2
    crossings = list(layers.get('ped_crossing', []))
    squares = [box(px - half, py - half, px + half, py + half) for px in road_map.road_positions
               for py in road_map.road_positions]
    cut = unary_union(squares + crossings).buffer(2.0)
    dividers = unary_union([line.buffer(0.08, cap_style='flat')
                            for line in layers.get('road_divider', [])]).difference(cut)
    big = [(COLORS['carpark_area'], unary_union(layers.get('carpark_area', []))),
           (COLORS['drivable_area'], unary_union(layers.get('drivable_area', []))),
           (COLORS['walkway'], unary_union(layers.get('walkway', []))),
           (COLORS['road_divider'], dividers)]
    marks = [rectangle_corners(p)[None] for p in layers.get('stop_line', [])]
    mark_colors = [COLORS['stop_line']] * len(marks)
    for crossing in crossings:
        stripes = zebra_stripes(crossing)
        marks.append(stripes)
        mark_colors += [COLORS['ped_crossing']] * len(stripes)
    assets = _WorldAssets(
        [(c, g) for c, g in big if not g.is_empty],
        np.concatenate(marks) if marks else np.zeros((0, 4, 2)),
        np.array(mark_colors, dtype=np.uint8).reshape(-1, 3))
    _ASSETS[world] = assets
    return assets


def _frame_geometry(world, frame) -> _FrameGeometry:
    """Map polygons within :data:`GROUND_RADIUS` of the ego and the shaded box quads."""
    assets = _world_assets(world)
    ego = frame.ego_translation[:2]
    disc = Point(*ego).buffer(GROUND_RADIUS, quad_segs=16)
    ground = []
    for color, geometry in assets.layers:
        rings = []
        for part in shapely.get_parts(geometry.intersection(disc)):
            if part.geom_type != 'Polygon' or part.is_empty:
                continue
            for ring in [part.exterior, *part.interiors]:
                xy = np.asarray(ring.coords)[:-1]
                rings.append(np.concatenate([xy, np.zeros((len(xy), 1))], 1))
        if rings:
            ground.append((color, rings))
    near_marks = np.linalg.norm(assets.marks.mean(1) - ego, axis=1) < GROUND_RADIUS
    marks = np.concatenate([assets.marks[near_marks],
                            np.zeros(assets.marks[near_marks].shape[:2] + (1,))], -1)
    boxes = np.asarray(frame.boxes, dtype=np.float64).reshape(-1, 7)
    colors = [a.cls.color for a in frame.agents]
    colors += [_static_color(k, kind) for k, kind in enumerate(frame.static_kinds)]
    base = np.array(colors, dtype=np.float64).reshape(-1, 3)
    reach = np.linalg.norm(boxes[:, :2] - ego, axis=1) - 0.5 * np.hypot(boxes[:, 3], boxes[:, 4])
    near = np.nonzero(reach < GROUND_RADIUS)[0]
    quads, normals, owner, anchors = box_quads(boxes[near])
    shade = 0.5 + 0.5 * np.clip(normals @ SUN, 0, 1)  # brightness only: hue is kept
    return _FrameGeometry(ground, marks, assets.mark_colors[near_marks], quads, normals, anchors,
                          np.round(base[near[owner]] * shade[:, None]).astype(np.uint8))


def _static_color(index: int, kind: str) -> Tuple[int, int, int]:
    """Colour of static box ``index``: a beige/brown building or a green tree."""
    palette = BUILDING_COLORS if kind == 'building' else VEGETATION_COLORS
    return palette[(index * 7 + 3) % len(palette)]
