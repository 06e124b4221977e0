"""Where objects go when a script populates a scene (bpy-free)."""
from __future__ import annotations

import math

import numpy as np


def grid_positions(rows: int, cols: int, spacing: float, origin=(0.0, 0.0, 0.0)) -> list[tuple[float, float, float]]:
    """Row-major positions of a rows x cols grid: columns along +x, rows along -y, from `origin`."""
    x0, y0, z0 = origin
    return [(x0 + c * spacing, y0 - r * spacing, z0) for r in range(rows) for c in range(cols)]


def footprint_radius(size: float) -> float:
    """Radius of the circle around a generated object's x/y footprint (the grid's half-diagonal),
    whatever its rotation about z."""
    return size * math.sqrt(2) / 2


def scatter_positions(n: int, area: tuple[float, float], radius: float, min_distance: float = 0.0,
                      seed: int = 0, max_tries: int = 10_000) -> np.ndarray:
    """`n` points [n, 2] in the rectangle `area` (width, height) centred on the origin, each at least
    2 * radius + min_distance from the others and `radius` inside the border (rejection sampling).
    Raises ValueError when they do not fit within `max_tries` draws."""
    rng = np.random.default_rng(seed)
    half = np.array(area, dtype=np.float64) / 2 - radius
    if np.any(half < 0):
        raise ValueError(f"area {area} is smaller than one object (radius {radius:g})")
    gap = 2 * radius + min_distance
    points: list[np.ndarray] = []
    for _ in range(max_tries):
        if len(points) == n:
            break
        p = rng.uniform(-half, half)
        if all(np.hypot(*(p - q)) >= gap for q in points):
            points.append(p)
    if len(points) < n:
        raise ValueError(f"only {len(points)} of {n} objects fit in {area} with spacing {gap:g}; "
                         "use a larger area or fewer objects")
    return np.array(points).reshape(n, 2)
