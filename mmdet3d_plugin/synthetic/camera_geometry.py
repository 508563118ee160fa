"""Geometry for the camera renderer: near-plane clipping and the quads that boxes are drawn as.

Everything here is plain numpy. Polygons are clipped against the camera's near plane
``z_cam >= near`` in 3D (Sutherland-Hodgman with one plane) *before* projection, so a polygon
that crosses behind the camera never flips through the image. Box side faces are cut into
vertical strips of bounded width: the painter's algorithm sorts these strips, which keeps a
long building wall from being drawn over an object standing in front of its far end.
"""
from typing import Tuple

import numpy as np

# Corners of a unit box in its own frame: bottom ring counter-clockwise seen from above, then
# the top ring. Side face k joins bottom corners k -> k + 1 (outward normal on its right).
_UNIT_CORNERS = np.array([[1, 1, -1], [-1, 1, -1], [-1, -1, -1], [1, -1, -1],
                          [1, 1, 1], [-1, 1, 1], [-1, -1, 1], [1, -1, 1]], dtype=np.float64) / 2


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """Corners of oriented boxes.

    Args:
        boxes (np.ndarray): ``(B, 7)`` ``[x, y, z, l, w, h, yaw]``, z = box centre.

    Returns:
        np.ndarray: ``(B, 8, 3)``: bottom ring (counter-clockwise from above), then top ring.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    local = _UNIT_CORNERS[None] * boxes[:, None, 3:6]
    c, s = np.cos(boxes[:, 6])[:, None], np.sin(boxes[:, 6])[:, None]
    x = c * local[..., 0] - s * local[..., 1]
    y = s * local[..., 0] + c * local[..., 1]
    return np.stack([x, y, local[..., 2]], -1) + boxes[:, None, :3]


def box_quads(boxes: np.ndarray,
              max_width: float = 2.0) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The drawable faces of boxes: side faces cut into strips, plus the top face.

    The bottom face is left out (it lies on the ground and faces down).

    Args:
        boxes (np.ndarray): ``(B, 7)`` ``[x, y, z, l, w, h, yaw]``.
        max_width (float): Widest side strip in metres.

    Returns:
        tuple: ``quads (P, 4, 3)`` vertices in order around each quad, ``normals (P, 3)`` unit
        outward normals, ``owner (P,)`` index of each quad's box and ``anchor (P, 2)``: the
        ground point (strip centre, or box centre for top faces) whose distance from the
        camera orders the quads.
    """
    corners = box_corners(boxes)
    num_boxes = len(corners)
    start = corners[:, :4]  # (B, 4, 3) bottom corners k
    end = np.roll(start, -1, axis=1)  # bottom corners k + 1
    edge_len = np.linalg.norm(end - start, axis=-1).reshape(-1)  # (B * 4,)
    pieces = np.maximum(np.ceil(edge_len / max_width - 1e-9), 1).astype(np.int64)
    face = np.repeat(np.arange(num_boxes * 4), pieces)
    first = np.repeat(np.cumsum(pieces) - pieces, pieces)
    part = np.arange(len(face)) - first
    t0 = (part / pieces[face])[:, None]
    t1 = ((part + 1) / pieces[face])[:, None]
    a, b = start.reshape(-1, 3)[face], end.reshape(-1, 3)[face]
    height = np.repeat(np.asarray(boxes, dtype=np.float64).reshape(-1, 7)[:, 5], 4)[face]
    lo, hi = a + t0 * (b - a), a + t1 * (b - a)
    up = np.zeros_like(lo)
    up[:, 2] = height
    sides = np.stack([lo, hi, hi + up, lo + up], 1)
    direction = b - a
    side_normals = np.stack([direction[:, 1], -direction[:, 0], np.zeros(len(face))], 1)
    side_normals /= np.maximum(np.linalg.norm(side_normals, axis=1, keepdims=True), 1e-12)
    tops = corners[:, 4:]
    top_normals = np.tile([0.0, 0.0, 1.0], (num_boxes, 1))
    quads = np.concatenate([sides, tops])
    normals = np.concatenate([side_normals, top_normals])
    owner = np.concatenate([face // 4, np.arange(num_boxes)])
    anchor = np.concatenate([(lo[:, :2] + hi[:, :2]) / 2, corners[:, :, :2].mean(1)])
    return quads, normals, owner, anchor


def clip_polygon(points: np.ndarray, near: float) -> np.ndarray:
    """Clip one camera-frame polygon ``(N, 3)`` against ``z = near``; returns ``(M, 3)``."""
    out, keep = clip_polygons(np.asarray(points, dtype=np.float64)[None], near)
    return out[0][keep[0]]


def clip_polygons(polygons: np.ndarray, near: float) -> Tuple[np.ndarray, np.ndarray]:
    """Clip camera-frame polygons against the plane ``z = near`` (keep ``z >= near``).

    Sutherland-Hodgman with one plane: walking each edge ``v_k -> v_k+1``, the output gets
    ``v_k`` if it is in front of the plane and the edge's crossing point if the edge crosses it.

    Args:
        polygons (np.ndarray): ``(P, N, 3)`` vertices in the camera frame, in order.
        near (float): Near-plane depth in metres.

    Returns:
        tuple: ``vertices (P, 2 N, 3)`` and ``keep (P, 2 N)`` bool; ``vertices[p][keep[p]]`` is
        the clipped polygon ``p`` in order (empty when it lies behind the plane).
    """
    nxt = np.roll(polygons, -1, axis=1)
    d0 = polygons[..., 2] - near
    d1 = nxt[..., 2] - near
    inside = d0 >= 0
    crosses = inside != (d1 >= 0)
    with np.errstate(divide='ignore', invalid='ignore'):
        t = np.where(crosses, d0 / np.where(crosses, d0 - d1, 1.0), 0.0)
    crossing = polygons + t[..., None] * (nxt - polygons)
    crossing[..., 2] = np.where(crosses, near, crossing[..., 2])  # exact, no round-off
    out = np.stack([polygons, crossing], 2).reshape(len(polygons), -1, 3)
    keep = np.stack([inside, crosses], 2).reshape(len(polygons), -1)
    return out, keep


def rectangle_corners(polygon) -> np.ndarray:
    """The four corners ``(4, 2)`` of a rectangular shapely polygon (its minimum rotated
    rectangle when it has more vertices)."""
    coords = np.asarray(polygon.exterior.coords)[:-1]
    if len(coords) != 4:
        coords = np.asarray(polygon.minimum_rotated_rectangle.exterior.coords)[:-1]
    return coords[:4]


def zebra_stripes(polygon, stripe: float = 0.5, gap: float = 0.5) -> np.ndarray:
    """White stripes of a rectangular pedestrian crossing.

    Stripes run along the rectangle's short side (the walking direction) and repeat along its
    long side (across the road).

    Args:
        polygon (shapely.Polygon): A rectangular crossing.
        stripe (float): Stripe width in metres.
        gap (float): Gap between stripes in metres.

    Returns:
        np.ndarray: ``(K, 4, 2)`` stripe corners.
    """
    p = rectangle_corners(polygon)
    e1, e2 = p[1] - p[0], p[3] - p[0]
    long_edge, short_edge = (e1, e2) if np.linalg.norm(e1) >= np.linalg.norm(e2) else (e2, e1)
    length = float(np.linalg.norm(long_edge))
    count = max(int((length - gap) // (stripe + gap)), 1)
    margin = (length - count * stripe - (count - 1) * gap) / 2
    starts = (margin + np.arange(count) * (stripe + gap)) / length
    ends = starts + stripe / length
    a = p[0] + starts[:, None] * long_edge
    b = p[0] + ends[:, None] * long_edge
    return np.stack([a, b, b + short_edge, a + short_edge], 1)
