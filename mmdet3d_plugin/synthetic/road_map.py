"""Procedural road network of the synthetic world (global frame, metres, z up).

A grid of straight two-lane roads (right-hand traffic) with sidewalks, a car park and
buildings inside the blocks, trees along the sidewalks, and painted markings: pedestrian
crossings, stop lines and centre dividers. The paint is flat (the LiDAR returns the road's
intensity on it) and placed at random — each crossing, stop line and divider segment between two
intersections is painted with probability :data:`PAINT_PROBABILITY` — so nothing the LiDAR sees
(road edges, buildings, trees) predicts it: only the cameras can. Everything is stored as shapely
geometry, the form the nuScenes map writer and the BEV rasteriser need, plus lane centre lines
for the agents.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon, box
from shapely.ops import unary_union

#: nuScenes map layers written by the synthetic world (BEV segmentation uses the first six).
POLYGON_LAYERS = ('drivable_area', 'ped_crossing', 'walkway', 'stop_line', 'carpark_area')
LINE_LAYERS = ('road_divider', 'lane_divider')
#: Chance that one crossing / stop line / divider segment is painted (drawn after the buildings
#: and trees, from the same generator, so those do not depend on it).
ROAD_SPACING = 100.0  # metres between parallel roads (the map grows in steps of it)
PAINT_PROBABILITY = 0.5


@dataclass
class Lane:
    """A straight lane: centre line from ``start`` to ``end`` (metres, global)."""
    start: Tuple[float, float]
    end: Tuple[float, float]
    road: str

    @property
    def heading(self) -> float:
        return float(np.arctan2(self.end[1] - self.start[1], self.end[0] - self.start[0]))

    @property
    def length(self) -> float:
        return float(np.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1]))

    def point_at(self, s: float) -> Tuple[float, float]:
        """Point at arc length ``s`` from the start."""
        f = s / self.length
        return (self.start[0] + f * (self.end[0] - self.start[0]),
                self.start[1] + f * (self.end[1] - self.start[1]))


@dataclass
class StaticBox:
    """A static obstacle (building, tree trunk+crown): centre, size ``(l, w, h)``, yaw."""
    center: Tuple[float, float, float]
    size: Tuple[float, float, float]
    yaw: float
    kind: str  # 'building' or 'vegetation'


@dataclass
class RoadMap:
    """The world's map. ``layers`` maps a nuScenes layer name to its shapely geometries."""
    size: float
    road_positions: Tuple[float, ...]
    road_width: float
    sidewalk_width: float
    layers: Dict[str, List] = field(default_factory=dict)
    lanes: List[Lane] = field(default_factory=list)
    shoulder_paths: List[Lane] = field(default_factory=list)
    sidewalk_paths: List[Lane] = field(default_factory=list)
    crossing_paths: List[Lane] = field(default_factory=list)
    #: per crossing path, whether its crossing is painted (walkers use only painted ones)
    crossing_painted: List[bool] = field(default_factory=list)
    static_boxes: List[StaticBox] = field(default_factory=list)
    _unions: Dict[Tuple[str, ...], object] = field(default_factory=dict, init=False, repr=False,
                                                   compare=False)

    def union(self, names: Tuple[str, ...]):
        """The union of the polygons of layers ``names``, prepared for fast ``contains_xy``
        (cached; ``None`` when the layers are empty)."""
        names = tuple(names)
        if names not in self._unions:
            polygons = [p for name in names for p in self.layers.get(name, [])]
            area = unary_union(polygons) if polygons else None
            if area is not None:
                shapely.prepare(area)
            self._unions[names] = area
        return self._unions[names]


def build_road_map(rng: np.random.Generator, size: float = 300.0,
                   road_positions: Optional[Tuple[float, ...]] = None,
                   lane_width: float = 4.0, shoulder_width: float = 3.0,
                   sidewalk_width: float = 3.0) -> RoadMap:
    """Build the grid map: roads at ``road_positions`` in x and in y across ``[0, size]``.

    Args:
        rng (np.random.Generator): Source of randomness (building/tree placement).
        size (float): Side of the square map in metres.
        road_positions (tuple, optional): Centre coordinates of the roads (same for both
            axes); default every :data:`ROAD_SPACING` from half of it (50 / 150 / 250 m on
            the 300 m map).
        lane_width (float): Width of each of the two lanes.
        shoulder_width (float): Parking shoulder on each side (parked vehicles, cones,
            barriers stand there), part of the drivable area.
        sidewalk_width (float): Walkway width on each side of a road.

    Returns:
        RoadMap: Polygons per layer, lane/sidewalk/crossing centre lines, static boxes.
    """
    if road_positions is None:
        road_positions = tuple(np.arange(ROAD_SPACING / 2, size, ROAD_SPACING).tolist())
    half = lane_width + shoulder_width  # half the drivable width
    road_width = 2 * half
    roads, walks, crossings, stops, lanes, walk_paths, cross_paths = [], [], [], [], [], [], []
    tree_lines, shoulders = [], []
    dividers = []
    for p in road_positions:
        roads += [box(0, p - half, size, p + half), box(p - half, 0, p + half, size)]
        # one divider segment per stretch of road between intersections (painted or not)
        ends = [0.0, *road_positions, size]
        for a, b in zip(ends[:-1], ends[1:]):
            dividers += [LineString([(a, p), (b, p)]), LineString([(p, a), (p, b)])]
        for side in (-1, 1):
            lo, hi = sorted((p + side * half, p + side * (half + sidewalk_width)))
            walks += [box(0, lo, size, hi), box(lo, 0, hi, size)]
            inner = p + side * (half + 0.3 * sidewalk_width)  # pedestrians walk here
            outer = p + side * (half + 0.8 * sidewalk_width)  # trees stand here
            # walking paths stop short of the intersections (walkers cross at crossings)
            for a, b in _block_spans(size, road_positions, half + sidewalk_width + 4.0):
                walk_paths += [Lane((a, inner), (b, inner), f'walk-h{p}'),
                               Lane((inner, a), (inner, b), f'walk-v{p}')]
            tree_lines += [Lane((0, outer), (size, outer), f'tree-h{p}'),
                           Lane((outer, 0), (outer, size), f'tree-v{p}')]
        # Right-hand traffic: eastbound south of the centre line, westbound north of it, ...
        lc = lane_width / 2  # lane centre offset from the road centre
        lanes += [Lane((0, p - lc), (size, p - lc), f'h{p}'),
                  Lane((size, p + lc), (0, p + lc), f'h{p}'),
                  Lane((p + lc, 0), (p + lc, size), f'v{p}'),
                  Lane((p - lc, size), (p - lc, 0), f'v{p}')]
        sc = lane_width + shoulder_width / 2
        shoulders += [Lane((0, p - sc), (size, p - sc), f'h{p}'),
                      Lane((size, p + sc), (0, p + sc), f'h{p}'),
                      Lane((p + sc, 0), (p + sc, size), f'v{p}'),
                      Lane((p - sc, size), (p - sc, 0), f'v{p}')]
    cw = 4.0  # crossing width
    for px in road_positions:
        for py in road_positions:
            for sign in (-1, 1):
                off = half + sidewalk_width / 2  # crossing just outside the intersection
                # across the vertical road (north/south of the intersection)
                cy = py + sign * (off + cw / 2)
                crossings.append(box(px - half, cy - cw / 2, px + half, cy + cw / 2))
                # pedestrians cross here only if it is painted (index of its crossing)
                cross_paths.append((len(crossings) - 1,
                                    Lane((px - half - 1.5, cy), (px + half + 1.5, cy), f'x{px}')))
                # across the horizontal road (east/west of the intersection)
                cx = px + sign * (off + cw / 2)
                crossings.append(box(cx - cw / 2, py - half, cx + cw / 2, py + half))
                # stop lines on the incoming lanes, before the crossings
                sx = cx + sign * (cw / 2 + 0.5)
                stops.append(box(min(sx, sx + sign * 0.6), py + (0 if sign > 0 else -lane_width),
                                 max(sx, sx + sign * 0.6), py + (lane_width if sign > 0 else 0)))
    drivable = unary_union(roads)
    layers = {
        'drivable_area': [drivable],
        'walkway': [unary_union(walks).difference(drivable)],
        'ped_crossing': crossings,
        'stop_line': stops,
        'carpark_area': [],
        'road_divider': dividers,
        'lane_divider': [],
    }
    road_map = RoadMap(size, tuple(road_positions), road_width, sidewalk_width, layers, lanes,
                       shoulders, walk_paths)
    _fill_blocks(road_map, tree_lines, rng)
    _paint_markings(road_map, cross_paths, rng)
    return road_map


def _paint_markings(road_map: RoadMap, cross_paths: List[Tuple[int, Lane]],
                    rng: np.random.Generator) -> None:
    """Keep each crossing, stop line and divider segment with probability
    :data:`PAINT_PROBABILITY` (at least one of each) and flag the walkers' crossing paths whose
    crossing is kept (all paths stay listed, so the scenes draw the same random numbers)."""
    layers = road_map.layers
    kept = {}
    for name in ('ped_crossing', 'stop_line', 'road_divider'):
        painted = rng.random(len(layers[name])) < PAINT_PROBABILITY
        if not painted.any():
            painted[int(rng.integers(len(painted)))] = True
        kept[name] = painted
        layers[name] = [g for g, keep in zip(layers[name], painted) if keep]
    road_map.crossing_paths = [path for _, path in cross_paths]
    road_map.crossing_painted = [bool(kept['ped_crossing'][index]) for index, _ in cross_paths]


def _block_spans(size: float, road_positions, clearance: float) -> List[Tuple[float, float]]:
    """Intervals of [0, size] between roads, ``clearance`` away from every road centre."""
    edges = [0.0] + [v for p in road_positions for v in (p - clearance, p + clearance)] + [size]
    return [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a > 5.0]


def _fill_blocks(road_map: RoadMap, tree_lines: List[Lane], rng: np.random.Generator) -> None:
    """Put a car park, buildings and trees into the blocks between roads."""
    edges = [0.0] + list(road_map.road_positions) + [road_map.size]
    margin = road_map.road_width / 2 + road_map.sidewalk_width
    blocks = []
    for x0, x1 in zip(edges[:-1], edges[1:]):
        for y0, y1 in zip(edges[:-1], edges[1:]):
            bx0 = x0 + (margin if x0 > 0 else 0) + 2.0
            bx1 = x1 - (margin if x1 < road_map.size else 0) - 2.0
            by0 = y0 + (margin if y0 > 0 else 0) + 2.0
            by1 = y1 - (margin if y1 < road_map.size else 0) - 2.0
            if bx1 - bx0 > 10 and by1 - by0 > 10:
                blocks.append((bx0, by0, bx1, by1))
    carpark_block = int(rng.integers(len(blocks)))
    for idx, (bx0, by0, bx1, by1) in enumerate(blocks):
        if idx == carpark_block:
            road_map.layers['carpark_area'].append(box(bx0, by0, bx0 + 30, by0 + 20))
            bx0 += 34  # buildings beside the car park
        # a row of buildings along each block edge
        x = bx0
        while x < bx1 - 8:
            length = float(rng.uniform(8, 20))
            depth = float(rng.uniform(8, 15))
            height = float(rng.uniform(6, 25))
            length = min(length, bx1 - x)
            for y_edge, sign in ((by0, 1), (by1, -1)):
                cy = y_edge + sign * depth / 2
                road_map.static_boxes.append(
                    StaticBox((x + length / 2, cy, height / 2), (length, depth, height), 0.0,
                              'building'))
            x += length + float(rng.uniform(2, 6))
    # trees on the outer part of the sidewalks, every ~15 m, none near intersections
    for path in tree_lines:
        for s in np.arange(float(rng.uniform(3, 12)), path.length, 15.0):
            x, y = path.point_at(float(s))
            if _near_intersection(x, y, road_map):
                continue
            road_map.static_boxes.append(StaticBox((x, y, 2.5), (0.8, 0.8, 5.0), 0.0,
                                                   'vegetation'))


def _near_intersection(x: float, y: float, road_map: RoadMap, clearance: float = 12.0) -> bool:
    px = min(road_map.road_positions, key=lambda p: abs(p - x))
    py = min(road_map.road_positions, key=lambda p: abs(p - y))
    return abs(px - x) < clearance and abs(py - y) < clearance
