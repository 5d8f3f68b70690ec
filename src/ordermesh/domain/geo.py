"""Places on the globe, and how far apart they are."""

from __future__ import annotations

from dataclasses import dataclass
from math import asin, cos, radians, sin, sqrt

from ordermesh.domain.errors import InvalidInput

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)


@dataclass(frozen=True, slots=True)
class Point:
    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not -90 <= self.latitude <= 90 or not -180 <= self.longitude <= 180:
            raise InvalidInput(f"not a place on Earth: {self.latitude}, {self.longitude}")


def distance_km(a: Point, b: Point) -> float:
    """Great-circle distance by the haversine formula: within 0.5% of the ellipsoid, which is
    plenty for choosing the nearer of two warehouses."""
    lat1, lat2 = radians(a.latitude), radians(b.latitude)
    dlat, dlon = lat2 - lat1, radians(b.longitude - a.longitude)
    h = sin(dlat / 2) ** 2 + cos(lat1) * cos(lat2) * sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(h)))
