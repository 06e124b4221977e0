"""Synthetic labelled voxel shapes built from signed-distance functions (numpy only).

Frame: every shape lives in the normalised cube [-1, 1]^3 with z UP; voxel centres of an R^3 grid sit at
``(i + 0.5) / R * 2 - 1``, so shapes are resolution independent. Objects stand on the floor (their lowest
voxels are in layer z = 0), are rotated by a random angle about the vertical axis, jittered in x/y as far
as their footprint allows, and never touch the other five faces of the grid.

A shape is a list of parts, each a signed distance (negative inside) plus a colour role. Solid parts are
unioned; a voxel is filled when its centre is within ``DILATION`` voxels of a solid part, which keeps thin
parts (1 voxel at 16^3) present and 6-connected at any rotation. Paint parts (doors, windows) only
recolour filled voxels. Later parts paint over earlier ones.

Colours: the ``main`` role takes the requested hue (stratify hues over the wheel for balanced colours) with
random saturation/value in a pleasant range; other roles (shade, accent, wood, metal, cream, glass) are
derived from it or drawn from their own ranges, so e.g. a tree has a brown trunk and a crown of the hue.

All parameters are drawn as arrays of shape [N, 1, 1, 1], so N shapes of a class are built at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

DILATION = 0.3
"""Fill a voxel when its centre is within this many voxel sizes of a solid part."""

FLOOR = -1.0
MAX_RADIUS = 0.85
"""Every shape's footprint (after rotation and jitter) stays inside this x/y radius."""

MAX_TOP = 0.8
"""Every shape's top stays below this height."""

_CHUNK_VOXELS = 2**21
"""Shapes are evaluated in chunks of about this many voxels to bound memory at high resolutions."""


@dataclass(frozen=True)
class Part:
    sdf: np.ndarray  # broadcastable to [N, R, R, R]
    role: str
    solid: bool = True


PartsFn = Callable[[np.ndarray, np.ndarray, np.ndarray], list[Part]]
Builder = Callable[[np.random.Generator, int], tuple[PartsFn, np.ndarray]]


# ---------------------------------------------------------------- signed distances (broadcasting numpy)
def _box(x, y, z, c, h):
    """Box with centre c = (cx, cy, cz) and half extents h = (hx, hy, hz)."""
    q = [np.abs(p - ci) - hi for p, ci, hi in zip((x, y, z), c, h)]
    outside = np.sqrt(sum(np.maximum(qi, 0.0) ** 2 for qi in q))
    return outside + np.minimum(np.maximum(np.maximum(q[0], q[1]), q[2]), 0.0)


def _box_z(x, y, z, cx, cy, hx, hy, z0, z1):
    """Axis-aligned box spanning heights z0..z1."""
    return _box(x, y, z, (cx, cy, (z0 + z1) / 2), (hx, hy, (z1 - z0) / 2))


def _cylinder(x, y, z, cx, cy, r, z0, z1):
    """Vertical cylinder of radius r spanning heights z0..z1."""
    d_r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r
    d_z = np.abs(z - (z0 + z1) / 2) - (z1 - z0) / 2
    return np.sqrt(np.maximum(d_r, 0) ** 2 + np.maximum(d_z, 0) ** 2) + np.minimum(np.maximum(d_r, d_z), 0)


def _frustum(radial, z, r0, r1, z0, z1):
    """Solid of revolution (or square pyramid when ``radial`` is a Chebyshev norm) with radius r0 at z0 -> r1 at z1."""
    slope = (r0 - r1) / (z1 - z0)
    side = (radial - (r0 - slope * (z - z0))) / np.sqrt(1 + slope**2)
    return np.maximum(side, np.maximum(z0 - z, z - z1))


def _sphere(x, y, z, c, r):
    return np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) - r


def _ellipsoid(x, y, z, c, radii):
    """Approximate distance (exact for spheres), good enough for a half-voxel dilation."""
    k = np.sqrt(sum(((p - ci) / ri) ** 2 for p, ci, ri in zip((x, y, z), c, radii)))
    return (k - 1) * np.minimum(np.minimum(radii[0], radii[1]), radii[2])


def _torus(a, b, c, major, minor):
    """Torus whose ring lies in the (a, b) plane around the origin; c is the axis coordinate."""
    return np.sqrt((np.sqrt(a**2 + b**2) - major) ** 2 + c**2) - minor


def _u(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    return rng.uniform(lo, hi, size=(n, 1, 1, 1))


def _radius(*half_extents: np.ndarray) -> np.ndarray:
    return np.sqrt(sum(h**2 for h in half_extents))


# ---------------------------------------------------------------- classes
# Each builder draws its parameters for n shapes and returns (parts(x, y, z), footprint radius [n,1,1,1]).
def _cube(rng, n):
    a = _u(rng, n, 0.3, 0.55)
    h = (a * _u(rng, n, 0.92, 1.08), a * _u(rng, n, 0.92, 1.08), a)
    return (lambda x, y, z: [Part(_box(x, y, z, (0, 0, FLOOR + a), h), "main")]), _radius(h[0], h[1])


def _sphere_shape(rng, n):
    r = _u(rng, n, 0.4, 0.75)
    return (lambda x, y, z: [Part(_sphere(x, y, z, (0, 0, FLOOR + r), r), "main")]), r


def _cylinder_shape(rng, n):
    r, h = _u(rng, n, 0.3, 0.6), _u(rng, n, 0.8, 1.7)
    return (lambda x, y, z: [Part(_cylinder(x, y, z, 0, 0, r, FLOOR, FLOOR + h), "main")]), r


def _cone(rng, n):
    r, h = _u(rng, n, 0.45, 0.8), _u(rng, n, 1.0, 1.75)
    return (lambda x, y, z: [Part(_frustum(np.hypot(x, y), z, r, 0.0, FLOOR, FLOOR + h), "main")]), r


def _pyramid(rng, n):
    a, h = _u(rng, n, 0.4, 0.58), _u(rng, n, 0.8, 1.5)

    def parts(x, y, z):
        chebyshev = np.maximum(np.abs(x), np.abs(y))  # square cross-sections
        return [Part(_frustum(chebyshev, z, a, 0.0, FLOOR, FLOOR + h), "main")]

    return parts, a * np.sqrt(2)


def _torus_shape(rng, n):
    minor = _u(rng, n, 0.13, 0.24)
    major = _u(rng, n, 0.4, 0.6)
    return (lambda x, y, z: [Part(_torus(x, y, z - FLOOR - minor, major, minor), "main")]), major + minor


def _legs(x, y, z, px, py, half, z1):
    """Four square legs at (+-px, +-py) from the floor to z1."""
    return np.minimum.reduce(
        [_box_z(x, y, z, sx * px, sy * py, half, half, FLOOR, z1) for sx in (-1, 1) for sy in (-1, 1)]
    )


def _table(rng, n):
    a, b = _u(rng, n, 0.5, 0.8), _u(rng, n, 0.3, 0.6)
    scale = np.minimum(1.0, 0.82 / _radius(a, b))
    a, b = a * scale, b * scale
    top, height = _u(rng, n, 0.07, 0.1), _u(rng, n, 0.7, 1.2)
    leg, inset = _u(rng, n, 0.07, 0.1), _u(rng, n, 0.0, 0.08)
    z_top = FLOOR + height

    def parts(x, y, z):
        return [
            Part(_legs(x, y, z, a - leg - inset, b - leg - inset, leg, z_top), "shade"),
            Part(_box_z(x, y, z, 0, 0, a, b, z_top - 2 * top, z_top), "main"),
        ]

    return parts, _radius(a, b)


def _chair(rng, n):
    a = _u(rng, n, 0.38, 0.55)
    b = a * _u(rng, n, 0.9, 1.1)
    seat_h, seat_t = _u(rng, n, 0.65, 0.95), _u(rng, n, 0.07, 0.09)
    back_h, back_t = _u(rng, n, 0.6, 0.85), _u(rng, n, 0.07, 0.09)
    leg = _u(rng, n, 0.07, 0.09)
    z_seat = FLOOR + seat_h

    def parts(x, y, z):
        return [
            Part(_legs(x, y, z, a - leg, b - leg, leg, z_seat), "shade"),
            Part(_box_z(x, y, z, 0, 0, a, b, z_seat - 2 * seat_t, z_seat), "main"),
            Part(_box_z(x, y, z, 0, -b + back_t, a, back_t, z_seat, z_seat + back_h), "main"),
        ]

    return parts, _radius(a, b)


def _stool(rng, n):
    r, height, seat_t = _u(rng, n, 0.38, 0.55), _u(rng, n, 0.9, 1.4), _u(rng, n, 0.08, 0.11)
    leg = _u(rng, n, 0.065, 0.08)
    spread = (r - leg) * _u(rng, n, 0.72, 0.85) / np.sqrt(2)  # legs at (+-spread, +-spread)
    z_top = FLOOR + height

    def parts(x, y, z):
        return [
            Part(_legs(x, y, z, spread, spread, leg, z_top), "metal"),
            Part(_cylinder(x, y, z, 0, 0, r, z_top - 2 * seat_t, z_top), "main"),
        ]

    return parts, r


def _lamp(rng, n):
    base_r, base_t = _u(rng, n, 0.3, 0.45), _u(rng, n, 0.12, 0.16)
    pole_r = _u(rng, n, 0.065, 0.08)
    shade_h = _u(rng, n, 0.35, 0.5)
    shade_r0 = _u(rng, n, 0.4, 0.6)
    shade_r1 = shade_r0 * _u(rng, n, 0.6, 0.8)
    shade_top = FLOOR + _u(rng, n, 1.3, 1.75)

    def parts(x, y, z):
        shade_z0 = shade_top - shade_h
        return [
            Part(_cylinder(x, y, z, 0, 0, base_r, FLOOR, FLOOR + base_t), "metal"),
            Part(_cylinder(x, y, z, 0, 0, pole_r, FLOOR, shade_z0 + 0.5 * shade_h), "metal"),
            Part(_frustum(np.hypot(x, y), z, shade_r0, shade_r1, shade_z0, shade_top), "main"),
        ]

    return parts, np.maximum(base_r, shade_r0)


def _arch(rng, n):
    a, b, height = _u(rng, n, 0.55, 0.76), _u(rng, n, 0.13, 0.28), _u(rng, n, 0.9, 1.5)
    pillar, top_t = _u(rng, n, 0.17, 0.27), _u(rng, n, 0.15, 0.25)
    opening_r = np.minimum(a - pillar, height - top_t - 0.1)
    z_c = FLOOR + height - top_t - opening_r

    def parts(x, y, z):
        opening = np.minimum(
            np.sqrt(x**2 + (z - z_c) ** 2) - opening_r, _box_z(x, y, z, 0, 0, opening_r, 2.0, FLOOR - 1, z_c)
        )
        return [Part(np.maximum(_box_z(x, y, z, 0, 0, a, b, FLOOR, FLOOR + height), -opening), "main")]

    return parts, _radius(a, b)


def _stairs(rng, n, max_steps=6):
    steps = rng.integers(4, max_steps + 1, size=(n, 1, 1, 1))
    half_len, width = _u(rng, n, 0.5, 0.7), _u(rng, n, 0.3, 0.45)
    height = _u(rng, n, 1.0, 1.6)
    run, rise = 2 * half_len / steps, height / steps

    def parts(x, y, z):
        out = []
        for k in range(max_steps):
            x0 = -half_len + k * run
            step = _box_z(x, y, z, x0 + run / 2, 0, run / 2, width, FLOOR, FLOOR + (k + 1) * rise)
            out.append(Part(np.where(k < steps, step, np.inf), "main" if k % 2 == 0 else "shade"))
        return out

    return parts, _radius(half_len, width)


def _house(rng, n):
    a, b = _u(rng, n, 0.36, 0.48), _u(rng, n, 0.36, 0.48)
    wall_h, roof_h, overhang = _u(rng, n, 0.6, 0.9), _u(rng, n, 0.4, 0.75), _u(rng, n, 0.06, 0.12)
    door_w, door_h = _u(rng, n, 0.1, 0.14), np.minimum(_u(rng, n, 0.35, 0.5), wall_h - 0.12)
    door_y = _u(rng, n, -0.3, 0.3) * (b - door_w)
    win = _u(rng, n, 0.09, 0.12)
    z_wall = FLOOR + wall_h

    def parts(x, y, z):
        ra = a + overhang
        roof = np.maximum(
            _frustum(np.abs(x), z, ra, 0.0, z_wall - 0.05, z_wall - 0.05 + roof_h), np.abs(y) - (b + overhang)
        )
        window_z = z_wall - win - 0.12
        return [
            Part(_box_z(x, y, z, 0, 0, a, b, FLOOR, z_wall), "main"),
            Part(roof, "accent"),
            Part(_box_z(x, y, z, a, door_y, 0.2, door_w, FLOOR, FLOOR + door_h), "wood", solid=False),
            Part(_box(x, np.abs(y), z, (0, b, window_z), (win, 0.2, win)), "glass", solid=False),
        ]

    return parts, _radius(a + overhang, b + overhang)


def _mug(rng, n):
    r, height = _u(rng, n, 0.35, 0.45), _u(rng, n, 0.8, 1.3)
    wall, bottom = _u(rng, n, 0.13, 0.17), _u(rng, n, 0.13, 0.17)
    handle_minor = _u(rng, n, 0.07, 0.085)
    handle_major = np.minimum(_u(rng, n, 0.24, 0.3), height / 2 - handle_minor - 0.02)
    z_mid = FLOOR + height / 2

    def parts(x, y, z):
        cup = np.maximum(
            _cylinder(x, y, z, 0, 0, r, FLOOR, FLOOR + height),
            -_cylinder(x, y, z, 0, 0, r - wall, FLOOR + bottom, FLOOR + height + 1),
        )
        handle = np.maximum(_torus(x - r, z - z_mid, y, handle_major, handle_minor), r - wall / 2 - x)
        return [Part(np.minimum(cup, handle), "main")]

    return parts, r + handle_major + handle_minor


def _tree(rng, n):
    trunk_r, trunk_h = _u(rng, n, 0.08, 0.13), _u(rng, n, 0.45, 0.75)
    pine = rng.random(size=(n, 1, 1, 1)) < 0.5
    crown_r = _u(rng, n, 0.4, 0.62)
    ball_r = np.minimum(crown_r, (MAX_TOP - FLOOR - trunk_h) / 1.8)
    cone_h = np.minimum(_u(rng, n, 0.9, 1.3), MAX_TOP - FLOOR - trunk_h)
    z_trunk = FLOOR + trunk_h

    def parts(x, y, z):
        ball = _sphere(x, y, z, (0, 0, z_trunk + 0.8 * ball_r), ball_r)
        cone = _frustum(np.hypot(x, y), z, crown_r, 0.0, z_trunk, z_trunk + cone_h)
        return [
            Part(_cylinder(x, y, z, 0, 0, trunk_r, FLOOR, z_trunk + 0.1), "wood"),
            Part(np.where(pine, cone, ball), "main"),
        ]

    return parts, crown_r


def _mushroom(rng, n):
    stem_r, stem_h = _u(rng, n, 0.13, 0.2), _u(rng, n, 0.6, 0.95)
    cap_r = _u(rng, n, 0.4, 0.7)
    cap_h = np.minimum(cap_r * _u(rng, n, 0.5, 0.8), MAX_TOP - FLOOR - stem_h + 0.05)
    z_cap = FLOOR + stem_h - 0.05

    def parts(x, y, z):
        cap = np.maximum(_ellipsoid(x, y, z, (0, 0, z_cap), (cap_r, cap_r, cap_h)), z_cap - z)
        return [Part(_cylinder(x, y, z, 0, 0, stem_r, FLOOR, z_cap + 0.05), "cream"), Part(cap, "main")]

    return parts, cap_r


_BUILDERS: dict[str, Builder] = {
    "cube": _cube,
    "sphere": _sphere_shape,
    "cylinder": _cylinder_shape,
    "cone": _cone,
    "pyramid": _pyramid,
    "torus": _torus_shape,
    "table": _table,
    "chair": _chair,
    "stool": _stool,
    "lamp": _lamp,
    "arch": _arch,
    "stairs": _stairs,
    "house": _house,
    "mug": _mug,
    "tree": _tree,
    "mushroom": _mushroom,
}

CLASS_NAMES: tuple[str, ...] = tuple(_BUILDERS)


# ---------------------------------------------------------------- colours
def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] (any matching shapes [...]) -> RGB [..., 3]."""
    h = np.mod(h, 1.0) * 6.0
    k = np.stack([(5 + h) % 6, (3 + h) % 6, (1 + h) % 6], axis=-1)
    return v[..., None] - v[..., None] * s[..., None] * np.clip(np.minimum(k, 4 - k), 0, 1)


def _role_colours(rng: np.random.Generator, hues: np.ndarray) -> dict[str, np.ndarray]:
    """RGB [N, 3] per colour role for N shapes whose main hue is ``hues`` [N]."""
    n = len(hues)

    def u(lo, hi):
        return rng.uniform(lo, hi, n)

    main_s, main_v = u(0.5, 0.9), u(0.7, 0.95)
    return {
        "main": hsv_to_rgb(hues, main_s, main_v),
        "shade": hsv_to_rgb(hues, main_s, main_v * u(0.55, 0.7)),
        "accent": hsv_to_rgb(hues + u(0.35, 0.65), u(0.5, 0.85), u(0.55, 0.85)),
        "wood": hsv_to_rgb(u(0.05, 0.1), u(0.45, 0.7), u(0.3, 0.5)),
        "metal": hsv_to_rgb(u(0.55, 0.65), u(0.0, 0.12), u(0.3, 0.5)),
        "cream": hsv_to_rgb(u(0.1, 0.15), u(0.12, 0.3), u(0.85, 0.95)),
        "glass": hsv_to_rgb(u(0.52, 0.6), u(0.2, 0.4), u(0.9, 1.0)),
    }


# ---------------------------------------------------------------- public API
def make_shapes(class_name: str, resolution: int, rng: np.random.Generator, hues: np.ndarray) -> np.ndarray:
    """N shapes of one class, main hues ``hues`` [N] in [0, 1) -> float32 [N, 4, R, R, R] (RGBA, RGB=0 where empty)."""
    if class_name not in _BUILDERS:
        raise ValueError(f"unknown shape class {class_name!r}; choose from {CLASS_NAMES}")
    hues = np.asarray(hues, dtype=np.float64).reshape(-1)
    chunk = max(1, _CHUNK_VOXELS // resolution**3)
    out = np.zeros((len(hues), 4, resolution, resolution, resolution), dtype=np.float32)
    for start in range(0, len(hues), chunk):
        out[start : start + chunk] = _make_chunk(_BUILDERS[class_name], resolution, rng, hues[start : start + chunk])
    return out


def _make_chunk(builder: Builder, resolution: int, rng: np.random.Generator, hues: np.ndarray) -> np.ndarray:
    n = len(hues)
    parts_fn, radius = builder(rng, n)
    if np.any(radius > MAX_RADIUS + 1e-9):
        raise RuntimeError(f"{builder.__name__} drew a footprint wider than MAX_RADIUS")
    angle = _u(rng, n, 0.0, 2 * np.pi)
    slack = np.maximum(MAX_RADIUS - radius, 0.0)
    offset_r, offset_a = slack * np.sqrt(_u(rng, n, 0.0, 1.0)), _u(rng, n, 0.0, 2 * np.pi)
    colours = _role_colours(rng, hues)

    g = (np.arange(resolution) + 0.5) / resolution * 2 - 1
    gx = g.reshape(1, -1, 1, 1) - offset_r * np.cos(offset_a)
    gy = g.reshape(1, 1, -1, 1) - offset_r * np.sin(offset_a)
    z = g.reshape(1, 1, 1, -1)
    cos, sin = np.cos(angle), np.sin(angle)
    x, y = cos * gx + sin * gy, -sin * gx + cos * gy  # world -> shape frame (rotate by -angle)

    parts = parts_fn(x, y, z)
    full = (n, resolution, resolution, resolution)
    limit = DILATION * 2.0 / resolution
    occupied = np.zeros(full, dtype=bool)
    for part in parts:
        if part.solid:
            occupied |= np.broadcast_to(part.sdf, full) < limit
    rgb = np.zeros((n, resolution, resolution, resolution, 3), dtype=np.float32)
    for part in parts:
        inside = occupied & (np.broadcast_to(part.sdf, full) < limit)
        rgb[inside] = np.broadcast_to(colours[part.role][:, None, None, None, :], rgb.shape)[inside]
    return np.concatenate([np.moveaxis(rgb, -1, 1), occupied[:, None].astype(np.float32)], axis=1)


def make_shape(class_name: str, resolution: int, rng: np.random.Generator, hue: float | None = None) -> np.ndarray:
    """One shape of ``class_name`` -> float32 [4, R, R, R] in [0, 1]; ``hue`` None draws a random hue."""
    hue = rng.random() if hue is None else hue
    return make_shapes(class_name, resolution, rng, np.array([hue]))[0]
