"""Write a :class:`RoadMap` as a nuScenes map-expansion JSON (``maps/expansion/<location>.json``)
that ``nuscenes.map_expansion.map_api.NuScenesMap`` loads (map version 1.3 layout)."""
import os
from typing import Dict, List

from shapely.geometry import LineString, MultiPolygon, Polygon

from ..utils.atomic_io import write_json
from .road_map import RoadMap
from .scene import make_token

STOP_LINE_REACH = 1.0  # metres: a stop line is 0.5 m before the crossing it guards


class _MapBuilder:
    """Accumulates nodes, polygons and lines with deterministic tokens."""

    def __init__(self, location: str):
        self.location = location
        self.layers: Dict[str, List[dict]] = {
            name: [] for name in ('node', 'polygon', 'line', 'drivable_area', 'road_segment',
                                  'road_block', 'lane', 'ped_crossing', 'walkway', 'stop_line',
                                  'carpark_area', 'road_divider', 'lane_divider', 'traffic_light',
                                  'lane_connector')
        }

    def _token(self, kind: str) -> str:
        return make_token(self.location, kind, len(self.layers[kind]))

    def _nodes(self, coords) -> List[str]:
        tokens = []
        for x, y in list(coords)[:-1] if list(coords)[0] == list(coords)[-1] else coords:
            token = self._token('node')
            self.layers['node'].append({'token': token, 'x': float(x), 'y': float(y)})
            tokens.append(token)
        return tokens

    def polygon(self, poly: Polygon) -> str:
        token = self._token('polygon')
        self.layers['polygon'].append({
            'token': token,
            'exterior_node_tokens': self._nodes(poly.exterior.coords),
            'holes': [{'node_tokens': self._nodes(ring.coords)} for ring in poly.interiors],
        })
        return token

    def line(self, line: LineString) -> str:
        token = self._token('line')
        self.layers['line'].append({'token': token, 'node_tokens': self._nodes(line.coords)})
        return token

    def record(self, layer: str, **fields) -> str:
        token = self._token(layer)
        self.layers[layer].append(dict(token=token, **fields))
        return token


def _parts(geometry) -> List[Polygon]:
    if isinstance(geometry, MultiPolygon):
        return list(geometry.geoms)
    return [geometry] if not geometry.is_empty else []


def road_map_to_json(road_map: RoadMap, location: str) -> dict:
    """The nuScenes map-expansion dictionary of ``road_map``."""
    builder = _MapBuilder(location)
    for geometry in road_map.layers['drivable_area']:
        builder.record('drivable_area',
                       polygon_tokens=[builder.polygon(p) for p in _parts(geometry)])
    for layer in ('walkway', 'carpark_area'):
        for geometry in road_map.layers[layer]:
            for poly in _parts(geometry):
                builder.record(layer, polygon_token=builder.polygon(poly))
    crossing_tokens = [builder.record('ped_crossing', polygon_token=builder.polygon(p),
                                      road_segment_token='')
                       for p in road_map.layers['ped_crossing']]
    for poly in road_map.layers['stop_line']:
        # a stop line guards the crossing just beyond it when that one is painted (markings are
        # painted at random, road_map.PAINT_PROBABILITY), else it is a plain stop line
        guarded = [token for token, crossing in zip(crossing_tokens,
                                                    road_map.layers['ped_crossing'])
                   if crossing.distance(poly) < STOP_LINE_REACH]
        builder.record('stop_line', polygon_token=builder.polygon(poly),
                       stop_line_type='PED_CROSSING' if guarded else 'STOP_SIGN',
                       ped_crossing_tokens=guarded[:1], traffic_light_tokens=[],
                       road_block_token='')
    for line in road_map.layers['road_divider']:
        builder.record('road_divider', line_token=builder.line(line), road_segment_token='')
    for line in road_map.layers['lane_divider']:
        builder.record('lane_divider', line_token=builder.line(line), lane_divider_segments=[])
    return dict(version='1.3', canvas_edge=[float(road_map.size), float(road_map.size)],
                arcline_path_3={}, connectivity={}, **builder.layers)


def write_nuscenes_map(dataroot: str, road_map: RoadMap, location: str) -> str:
    """Write ``maps/expansion/<location>.json`` under ``dataroot``; returns its path."""
    path = os.path.join(dataroot, 'maps', 'expansion', f'{location}.json')
    write_json(path, road_map_to_json(road_map, location))
    return path
