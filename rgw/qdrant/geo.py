"""The shapes of Qdrant's geo conditions, and whether a point lies in them, computed as Qdrant
computes it (with the `geo` crate): boundaries are outside, radii are haversine distances."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

EARTH_RADIUS_METERS = 6371008.8  # the geo crate's mean Earth radius


@dataclass(frozen=True)
class GeoPoint:
    lon: float
    lat: float


@dataclass(frozen=True)
class GeoBoundingBox:
    top_left: GeoPoint
    bottom_right: GeoPoint

    def contains(self, point: GeoPoint) -> bool:
        if not self.bottom_right.lat < point.lat < self.top_left.lat:
            return False
        west, east = self.top_left.lon, self.bottom_right.lon
        if west > east:  # the box crosses the antimeridian
            return point.lon > west or point.lon < east
        return west < point.lon < east


@dataclass(frozen=True)
class GeoRadius:
    center: GeoPoint
    radius: float  # meters

    def contains(self, point: GeoPoint) -> bool:
        return haversine_meters(self.center, point) < self.radius


@dataclass(frozen=True)
class GeoPolygon:
    exterior: tuple[GeoPoint, ...]
    interiors: tuple[tuple[GeoPoint, ...], ...] | None  # holes

    def contains(self, point: GeoPoint) -> bool:
        if _ring_position(point, self.exterior) != _INSIDE:
            return False
        return all(_ring_position(point, hole) == _OUTSIDE for hole in self.interiors or ())


def haversine_meters(a: GeoPoint, b: GeoPoint) -> float:
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    half_dlat, half_dlon = math.radians(b.lat - a.lat) / 2, math.radians(b.lon - a.lon) / 2
    h = math.sin(half_dlat) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(half_dlon) ** 2
    return EARTH_RADIUS_METERS * 2 * math.asin(math.sqrt(h))


_OUTSIDE, _BOUNDARY, _INSIDE = range(3)


def _ring_position(point: GeoPoint, ring: tuple[GeoPoint, ...]) -> int:
    """Winding number of a closed ring around the point, with the geo crate's crossing rules
    (an upward edge includes its start, a downward edge its end, horizontal edges do not count)."""
    x, y = point.lon, point.lat
    winding = 0
    for start, end in pairwise(ring):
        if start.lat <= y <= end.lat or end.lat <= y < start.lat:
            turn = (end.lon - start.lon) * (y - start.lat) - (x - start.lon) * (end.lat - start.lat)
            if turn == 0 and min(start.lon, end.lon) <= x <= max(start.lon, end.lon):
                return _BOUNDARY
            if start.lat <= y and turn > 0 and end.lat != y:
                winding += 1
            elif start.lat > y and turn < 0:
                winding -= 1
    return _OUTSIDE if winding == 0 else _INSIDE
