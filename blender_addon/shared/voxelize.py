"""Mesh arrays -> voxel grid (numpy only, so it runs inside Blender as well as on the server).

The add-on hands a selected mesh (a block-out of cubes, an earlier result, an imported model) to `voxelize`,
which returns the RGBA grid [4, R, R, R] the model can start from (an `edits.Edit` init).

Frame: the grid of `meshing.py`, indexed [channel, x, y, z] with z up; voxel (i, j, k) spans
[i, i+1] x [j, j+1] x [k, k+1] in grid units and is filled when its centre (i + 0.5, j + 0.5, k + 0.5) is
inside the mesh. So a grid meshed by `meshing.cube_mesh` and voxelised back (in grid units) is the same grid.

Placement, fit="object": scaled uniformly (never stretched) into the envelope of the training objects
(`diffusion_core/data/shapes.py`): in the normalised cube [-1, 1]^3 a shape stands on the floor (its lowest
voxels in layer z = 0), its footprint stays inside the radius `FIT_RADIUS` of the vertical axis and its top
below `FIT_TOP`. The mesh is centred on that axis (the middle of its bounding box in x/y; the training
objects are jittered around it), its lowest vertex put on the floor z = 0, and scaled to the size of a
typical training object: FIT_FILL (0.84) of the largest size both limits allow, the size at which its
footprint radius (the largest distance of a vertex from the axis) reaches FIT_RADIUS or its height reaches
FIT_TOP - FIT_FLOOR, whichever comes first. (The training objects reach 0.65..0.97 of that size, median
0.84; tests check it against shapes.py.) A normalised unit is R / 2 voxels, so at 32^3 the footprint
radius is at most 0.84 * 13.6 = 11.4 voxels and the height at most 0.84 * 28.8 = 24.2 voxels.
fit="grid": the vertices already are grid units (a cube_mesh lattice, for round trips); whatever lies
outside [0, R]^3 is cropped.

Inside test: the winding number of each voxel centre counted along rays. For every axis the mesh is
projected on the other two and each triangle adds its orientation (+1 where its outward normal points
along the ray, -1 against) to the columns whose centre it covers, at the height where it crosses them; a
running sum along the column gives, for every voxel, the signed crossings above it (the winding number
seen by the ray going up) and below it (going down). The estimate is the mean of these six rays
(+-x, +-y, +-z) and a voxel is inside where its magnitude is over 0.5:
- closed meshes: every ray gives the same integer (0 outside, 1 inside, 2 where two closed parts of a
  block-out overlap, -1 inside an inside-out mesh), so overlapping cubes fill their union, unlike parity;
- open meshes (a small hole, a missing face): only the rays through the hole miss, so the mean is a
  six-direction estimate of the generalised winding number (which is exactly the mean over all
  directions) and 0.5 is its usual threshold; a lone plane is crossed by at most 3 of the 6 rays (1/6 when
  axis-aligned, 1/2 when tilted) and stays empty.
Rays through an edge or a vertex are resolved by simulation of simplicity: each centre is treated as if
nudged by an infinitesimal (dx >> dy >> dz > 0), and each edge function is computed once per edge from
its endpoints in a fixed (lexicographic) order, so the two triangles sharing an edge never both count, nor
both miss, a ray through it (vertices shared by bitwise-equal coordinates, not by index, so duplicated
vertices at UV seams do not open the mesh). Measured at 32^3, voxels decided wrongly against the ideal shape:

    mesh                       parity along z   winding along z   six rays (this)   generalised winding number
    cube, sphere, torus        0, 48, 16        0, 48, 16         0, 48, 16         0, 48, 16 (the facets)
    sphere with its cap cut    459              619               85                85
    two overlapping boxes      192              0                 0                 0
    a box without its lid      2560             4096              0                 0
    time (sphere, 2208 faces)  4 ms             3 ms              9 ms              14 s (brute force)

Colours: the surface is sampled about every 0.6 voxels (centroids of small triangles) with the colour of its
face (face_colors) or the barycentric mix of its vertices' colours (vertex_colors). A voxel within 1.5
voxels of the surface takes the colour of its nearest sample; deeper voxels take the nearest of the
samples their already-coloured neighbours hold, growing inward one layer at a time. Colours are stored as
given, clipped to [0, 1]: grids hold display (sRGB) colours (`colors.py`), so the caller converts Blender's
scene-linear attributes first.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .colors import MASK_DEFAULT_RGB

FIT_RADIUS = 0.85
"""Footprint radius of the training objects in the normalised cube (= diffusion_core.data.shapes.MAX_RADIUS)."""
FIT_TOP = 0.8
"""Highest top of the training objects in the normalised cube (= diffusion_core.data.shapes.MAX_TOP)."""
FIT_FLOOR = -1.0
"""The floor of the normalised cube (= diffusion_core.data.shapes.FLOOR): the grid's bottom face."""
FIT_FILL = 0.84
"""Size of the median training object, as a fraction of the largest size the two limits above allow."""

MAX_RESOLUTION = 256
FITS = ("object", "grid")

_SAMPLE_SPACING = 0.6
"""Longest edge of the small triangles whose centroids are the colour samples, in voxels: every point of the
surface is within 0.4 voxels of a sample."""
_MAX_SAMPLES = 1 << 21
"""Colour samples are spread further apart when a mesh would need more than this many."""
_NEAR = 1.5
"""Triangles farther than this outside the grid (fit="grid") get no colour samples: no voxel can use them."""
_CHUNK_PAIRS = 1 << 21
"""(triangle, column) pairs tested at once: bounds memory on meshes with many large triangles."""


def voxelize(
    vertices: np.ndarray,
    faces: np.ndarray | Sequence[Sequence[int]],
    resolution: int,
    *,
    vertex_colors: np.ndarray | None = None,
    face_colors: np.ndarray | None = None,
    base_color: Sequence[float] | None = None,
    fit: str = "object",
) -> np.ndarray:
    """Fill a grid with the inside of a mesh, coloured by its nearest surface.

    Args:
        vertices: float [V, 3] positions (Blender object or world space, z up; grid units for fit="grid").
        faces: int [F, 3] triangles, [F, 4] quads or [F, K] K-gons, or a list of F polygons (index lists of any
            length >= 3); polygons are triangulated as fans from their first corner. Vertices no face uses are
            ignored (also for the fit).
        resolution: R, the grid's side in voxels (1..MAX_RESOLUTION).
        vertex_colors: float [V, 3] or [V, 4] (alpha ignored), display colours in [0, 1], interpolated over
            each triangle.
        face_colors: float [F, 3] or [F, 4] (alpha ignored), one colour per input face; wins over vertex_colors.
        base_color: 3 floats, the colour of every voxel when neither colour array is given; default
            colors.MASK_DEFAULT_RGB (a neutral light grey).
        fit: "object" (placed and sized like a training object, see the module docstring) or "grid"
            (vertices already in grid units, voxel (i, j, k) spanning [i, i+1] x [j, j+1] x [k, k+1]).
    Returns:
        float32 [4, R, R, R], indexed [channel, x, y, z]: RGB in [0, 1] inside (0 outside), alpha 1 inside and
        0 outside.
    Raises:
        ValueError: with a message for the artist when an input has the wrong shape or type, is not finite,
        indexes a missing vertex, has no faces or no size, or encloses no voxel centre.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise ValueError(f"resolution must be an integer, got {resolution!r}")
    if not 1 <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"resolution must be in 1..{MAX_RESOLUTION}, got {resolution}")
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    r = int(resolution)
    points = _real_array(vertices, "vertices", columns=(3,))
    triangles, owner, n_faces = _triangulate(faces, len(points))
    face_rgb = None if face_colors is None else _real_array(face_colors, "face_colors", (3, 4), rows=n_faces)
    vertex_rgb = None if vertex_colors is None else _real_array(vertex_colors, "vertex_colors", (3, 4),
                                                                rows=len(points))
    base = _base_color(base_color)

    grid_points = _place(points, triangles, r) if fit == "object" else points
    corners = grid_points[triangles]  # [T, 3 corners, 3 coordinates]
    occupied = np.abs(_winding(corners, r)) > 0.5  # more than half the rays: a lone plane (at most 3 of 6) stays empty
    if not occupied.any():
        raise ValueError(
            f"the mesh encloses no voxel at resolution {r}: a flat or open surface (a plane, a single face) "
            "has no inside to fill; give it thickness (Solidify modifier) or close its holes"
            + (", or move it inside the grid [0, resolution]" if fit == "grid" else "")
        )

    out = np.zeros((4, r, r, r), np.float32)
    out[3] = occupied
    rgb = _voxel_colors(occupied, corners, triangles, owner, face_rgb, vertex_rgb, base)  # [R, R, R, 3]
    out[:3] = np.moveaxis(np.where(occupied[..., None], rgb, 0.0), -1, 0)
    return out


# ---------------------------------------------------------------- inputs
def _real_array(values, name: str, columns: tuple[int, ...], rows: int | None = None) -> np.ndarray:
    """A finite float64 [N, C] array with C in `columns` (and N == rows when given), or ValueError."""
    try:
        array = np.asarray(values)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{name} must be a [N, {'|'.join(map(str, columns))}] array: {error}") from None
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.integer)
                                       or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    wanted = f"[{rows if rows is not None else 'N'}, {'|'.join(map(str, columns))}]"
    if array.ndim != 2 or array.shape[1] not in columns or (rows is not None and len(array) != rows):
        raise ValueError(f"{name} must have shape {wanted}, got {array.shape}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise ValueError(f"{name} must be finite numbers: row {bad} is {array[bad].tolist()}")
    return array


def _base_color(base_color: Sequence[float] | None) -> np.ndarray:
    if base_color is None:
        return np.asarray(MASK_DEFAULT_RGB, np.float64)
    base = np.asarray(base_color)
    if base.shape != (3,):
        raise ValueError(f"base_color must be 3 numbers (r, g, b), got {base_color!r}")
    return np.clip(_real_array(base[None], "base_color", (3,))[0], 0.0, 1.0)


def _triangulate(faces, n_vertices: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Faces -> (triangles int64 [T, 3], owner int64 [T]: the input face of each triangle, F input faces)."""
    array = faces if isinstance(faces, np.ndarray) else None
    if array is None:
        polygons = list(faces)
        try:
            array = np.asarray(polygons)
        except ValueError:  # ragged: polygons of several lengths
            pass
        if array is not None and array.ndim != 2 and array.size:
            array = None  # not a table: checked polygon by polygon below
    if array is not None and array.size == 0:
        raise ValueError("the mesh has no faces: select a mesh object with some geometry")
    if array is not None:
        _check_indices(array, "faces", n_vertices)
        if array.ndim != 2 or array.shape[1] < 3:
            raise ValueError(f"faces must have shape [F, 3] (triangles), [F, 4] (quads) or [F, K >= 3], "
                             f"got {array.shape}")
        groups = [(np.arange(len(array)), array.astype(np.int64))]
        count = len(array)
    else:
        by_length: dict[int, list[int]] = {}
        arrays = []
        for index, polygon in enumerate(polygons):
            corners = np.asarray(polygon)
            _check_indices(corners, f"face {index}", n_vertices)
            if corners.ndim != 1 or len(corners) < 3:
                raise ValueError(f"face {index} must list at least 3 vertex indices, got {corners.tolist()}")
            by_length.setdefault(len(corners), []).append(index)
            arrays.append(corners.astype(np.int64))
        groups = [(np.array(ids), np.stack([arrays[i] for i in ids])) for ids in by_length.values()]
        count = len(polygons)
    triangles, owners = [], []
    for ids, group in groups:
        k = group.shape[1]
        fan = np.stack([np.zeros(k - 2, np.int64), np.arange(1, k - 1), np.arange(2, k)], axis=1)  # [k-2, 3]
        triangles.append(group[:, fan].reshape(-1, 3))
        owners.append(np.repeat(ids, k - 2))
    return np.concatenate(triangles), np.concatenate(owners), count


def _check_indices(indices: np.ndarray, name: str, n_vertices: int) -> None:
    if indices.dtype == np.bool_ or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"{name} must hold integer vertex indices, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= n_vertices):
        bad = indices[(indices < 0) | (indices >= n_vertices)].ravel()[0]
        raise ValueError(f"{name} uses vertex {int(bad)}, but the mesh has {n_vertices} vertices (0..{n_vertices - 1})")


# ---------------------------------------------------------------- placement
def _place(points: np.ndarray, triangles: np.ndarray, r: int) -> np.ndarray:
    """Object-space vertices [V, 3] -> grid units [V, 3] (fit="object", see the module docstring)."""
    used = points[np.unique(triangles)]
    low, high = used.min(axis=0), used.max(axis=0)
    if np.all(high - low == 0):
        raise ValueError("the mesh has no size: all its vertices are at one point")
    axis = (low[:2] + high[:2]) / 2
    footprint = np.sqrt(((used[:, :2] - axis) ** 2).sum(axis=1)).max()
    height = high[2] - low[2]
    half = r / 2  # grid units per normalised unit
    limits = [FIT_RADIUS * half / footprint if footprint > 0 else np.inf,
              (FIT_TOP - FIT_FLOOR) * half / height if height > 0 else np.inf]
    scale = FIT_FILL * min(limits)
    out = (points - np.array([axis[0], axis[1], low[2]])) * scale
    out[:, :2] += half
    return out


# ---------------------------------------------------------------- inside test
def _winding(corners: np.ndarray, r: int) -> np.ndarray:
    """Mean winding number of the voxel centres over the six axis rays. corners: [T, 3, 3] grid units.

    Returns float64 [R, R, R] indexed [x, y, z].
    """
    total = np.zeros((r, r, r))
    for axis in range(3):
        order = [(axis + 1) % 3, (axis + 2) % 3, axis]  # (u, v, w): right-handed, the ray along w
        total += np.transpose(_axis_winding(corners, order, r), np.argsort(order))
    return total / 3


def _axis_winding(corners: np.ndarray, order: list[int], r: int) -> np.ndarray:
    """Mean of the winding numbers seen along +w and -w from each voxel centre. corners: [T, 3, 3] in (x, y, z).

    Every centre is nudged by (dx, dy, dz), dx >> dy >> dz > 0 (simulation of simplicity), so a centre on an
    edge, a vertex or a face is decided as the nudged point would be, the same way along the three axes.
    Returns float64 [R, R, R] indexed (u, v, w) = `order`.
    """
    uvw = corners[..., order]
    u, v, w = uvw[..., 0], uvw[..., 1], uvw[..., 2]  # [T, 3 corners]
    du1, dv1, dw1 = u[:, 1] - u[:, 0], v[:, 1] - v[:, 0], w[:, 1] - w[:, 0]
    du2, dv2, dw2 = u[:, 2] - u[:, 0], v[:, 2] - v[:, 0], w[:, 2] - w[:, 0]
    area = du1 * dv2 - dv1 * du2  # twice the projected area; the w component of the normal
    i0 = np.maximum(np.ceil(u.min(axis=1) - 0.5), 0)
    i1 = np.minimum(np.floor(u.max(axis=1) - 0.5), r - 1)
    j0 = np.maximum(np.ceil(v.min(axis=1) - 0.5), 0)
    j1 = np.minimum(np.floor(v.max(axis=1) - 0.5), r - 1)
    nu, nv = np.maximum(i1 - i0 + 1, 0).astype(np.int64), np.maximum(j1 - j0 + 1, 0).astype(np.int64)
    keep = np.flatnonzero((area != 0) & (nu * nv > 0))  # edge-on triangles cover no nudged centre
    hist = np.zeros(r * r * (r + 1))
    if not len(keep):
        return np.zeros((r, r, r))

    # Each edge's function is computed once, from its lexicographically smaller endpoint A to the other B,
    # so both triangles of a shared edge get the same number (with opposite signs).
    ua, va, ub, vb = u[keep][:, [0, 1, 2]], v[keep][:, [0, 1, 2]], u[keep][:, [1, 2, 0]], v[keep][:, [1, 2, 0]]
    swap = (ub < ua) | ((ub == ua) & (vb < va))
    au, av = np.where(swap, ub, ua), np.where(swap, vb, va)
    du, dv = np.where(swap, ua, ub) - au, np.where(swap, va, vb) - av
    travel = np.where(swap, -1.0, 1.0)  # +1 where the triangle runs A -> B
    if order[0] < order[1]:  # a centre on an edge's line: the side the nudge (larger along u) takes it to
        on_edge = np.where(dv != 0, -np.sign(dv), 1.0)
    else:
        on_edge = np.where(du != 0, np.sign(du), -1.0)
    # A crossing at exactly a centre's height: its side is the sign of the nudge's largest term in
    # (dh/du du + dh/dv dv - dw), h the triangle's height over (u, v).
    area_k = area[keep]
    slope_u = -np.sign(dv1 * dw2 - dw1 * dv2)[keep] * np.sign(area_k)
    slope_v = -np.sign(dw1 * du2 - du1 * dw2)[keep] * np.sign(area_k)
    at_height = np.zeros(len(keep))
    for _, term in sorted([(order[0], slope_u), (order[1], slope_v), (order[2], -np.ones(len(keep)))],
                          key=lambda t: -t[0]):  # least significant first; the largest nonzero term wins
        at_height = np.where(term != 0, term, at_height)
    wk = w[keep]
    i0k, j0k, nuk, nvk = i0[keep].astype(np.int64), j0[keep].astype(np.int64), nu[keep], nv[keep]

    pairs = nuk * nvk
    ends = np.cumsum(pairs)
    bounds = np.searchsorted(ends, np.arange(_CHUNK_PAIRS, ends[-1], _CHUNK_PAIRS), side="left") + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(keep)]):
        if lo >= hi:
            continue
        counts = pairs[lo:hi]
        tri = np.repeat(np.arange(lo, hi), counts)
        local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        ci = i0k[tri] + local // nvk[tri]
        cj = j0k[tri] + local % nvk[tri]
        pu, pv = (ci + 0.5)[:, None], (cj + 0.5)[:, None]
        edge = du[tri] * (pv - av[tri]) - dv[tri] * (pu - au[tri])  # [P, 3 edges]
        side = np.where(edge > 0, 1.0, np.where(edge < 0, -1.0, on_edge[tri])) * travel[tri]
        hit = (side[:, 0] == side[:, 1]) & (side[:, 1] == side[:, 2])
        signed = edge * travel[tri]  # along the triangle's own corners: e01, e12, e20
        denominator = signed.sum(axis=1)
        hit &= denominator != 0
        tri, ci, cj, signed, denominator, orientation = (
            tri[hit], ci[hit], cj[hit], signed[hit], denominator[hit], side[hit, 0])
        corner_w = wk[tri]
        height = corner_w[:, 0] + (signed[:, 2] * (corner_w[:, 1] - corner_w[:, 0])  # exact on flat faces
                                   + signed[:, 0] * (corner_w[:, 2] - corner_w[:, 0])) / denominator
        level = height - 0.5  # in centre indices
        first_above = np.ceil(level)  # the first centre the crossing is below
        first_above += (level == first_above) & (at_height[tri] > 0)
        flat = (ci * r + cj) * (r + 1) + np.clip(first_above, 0, r).astype(np.int64)
        hist += np.bincount(flat, weights=orientation, minlength=len(hist))
    hist = hist.reshape(r, r, r + 1)
    below = np.cumsum(hist, axis=2)[..., :r]  # signed crossings under each centre
    total = hist.sum(axis=2, keepdims=True)
    return (total - 2 * below) / 2  # mean of (total - below) going up and (-below) going down


# ---------------------------------------------------------------- colours
def _voxel_colors(occupied: np.ndarray, corners: np.ndarray, triangles: np.ndarray, owner: np.ndarray,
                  face_rgb: np.ndarray | None, vertex_rgb: np.ndarray | None, base: np.ndarray) -> np.ndarray:
    """RGB [R, R, R, 3] of each voxel's nearest surface sample (base where there is none, or no colours).

    occupied: bool [R, R, R]; corners [T, 3, 3] grid units of triangles [T, 3] (vertex indices) made from the
    input faces owner [T]; face_rgb [F, 3|4], vertex_rgb [V, 3|4] or None; base [3].
    """
    if face_rgb is None and vertex_rgb is None:
        return np.broadcast_to(base, (*occupied.shape, 3))
    samples, weights, sample_tri = _surface_samples(corners, occupied.shape[0])
    if not len(samples):  # the whole grid lies deep inside a larger mesh
        return np.broadcast_to(base, (*occupied.shape, 3))
    if face_rgb is not None:
        sample_rgb = face_rgb[owner[sample_tri], :3]
    else:
        sample_rgb = np.einsum("sc,scd->sd", weights, vertex_rgb[triangles[sample_tri], :3])
    nearest = _nearest_samples(occupied, samples)
    return np.where(nearest[..., None] >= 0, np.clip(sample_rgb, 0.0, 1.0)[nearest], base)


def _surface_samples(corners: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points on the triangles [T, 3, 3] near the grid: each triangle is cut into n^2 similar triangles with
    edges of at most _SAMPLE_SPACING and sampled at their centroids (no point is shared by two triangles).

    Returns (points float64 [S, 3], barycentric weights [S, 3], triangle index int64 [S]).
    """
    longest = np.sqrt(((corners - np.roll(corners, 1, axis=1)) ** 2).sum(axis=2)).max(axis=1)
    near = np.all((corners.max(axis=1) >= -_NEAR) & (corners.min(axis=1) <= r + _NEAR), axis=1)
    spacing = _SAMPLE_SPACING
    while True:
        cuts = np.maximum(np.ceil(longest / spacing), 1).astype(np.int64)
        if (cuts[near] ** 2).sum() <= _MAX_SAMPLES:
            break
        spacing *= 1.5
    points, weights, owners = [np.zeros((0, 3))], [np.zeros((0, 3))], [np.zeros(0, np.int64)]
    for n in np.unique(cuts[near]):
        ids = np.flatnonzero(near & (cuts == n))
        a, b = np.triu_indices(n)
        a, b = b - a, a  # all (a, b) with a + b <= n - 1: the small triangles pointing like the big one
        up = np.stack([a + 1 / 3, b + 1 / 3], axis=1)
        down = up[a + b <= n - 2] + 1 / 3  # and those pointing the other way
        ab = np.concatenate([up, down]) / n
        grid = np.stack([1 - ab.sum(axis=1), ab[:, 0], ab[:, 1]], axis=1)  # [n^2, 3] barycentric weights
        points.append(np.einsum("gc,tcd->tgd", grid, corners[ids]).reshape(-1, 3))
        weights.append(np.tile(grid, (len(ids), 1)))
        owners.append(np.repeat(ids, len(grid)))
    return np.concatenate(points), np.concatenate(weights), np.concatenate(owners)


def _nearest_samples(occupied: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """For every voxel, the index of (about) the nearest sample [S, 3]; -1 outside or out of reach.

    The 27 voxels around each sample's own voxel take their nearest sample exactly (that holds every centre
    closer than 1.5 voxels along each axis, so the whole outer layer); the others grow inward from their
    neighbours, each taking the nearest of the samples its coloured neighbours hold.
    Returns int64 [R, R, R].
    """
    r = occupied.shape[0]
    cell = np.floor(samples).astype(np.int64)
    reach = np.flatnonzero(np.all((cell >= -1) & (cell <= r), axis=1))  # others have no voxel in their 27
    key = np.ravel_multi_index((cell[reach] + 1).T, (r + 2,) * 3)
    by_cell = np.argsort(key, kind="stable")
    order, key = reach[by_cell], key[by_cell]
    nearest = np.full(occupied.size, -1, np.int64)
    if not len(order):
        return nearest.reshape(occupied.shape)
    cell, points = cell[order], samples[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])  # one group of samples per voxel
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(key)]))
    best_d2 = np.full(occupied.size, np.inf)
    for offset in np.ndindex(3, 3, 3):
        shift = np.array(offset) - 1
        d2 = ((cell + shift + 0.5 - points) ** 2).sum(axis=1)
        group_d2 = np.minimum.reduceat(d2, starts)
        first = np.minimum.reduceat(np.where(d2 == group_d2[group], np.arange(len(d2)), len(d2)), starts)
        target = cell[starts] + shift
        valid = np.all((target >= 0) & (target < r), axis=1)
        valid[valid] = occupied[tuple(target[valid].T)]
        flat = np.ravel_multi_index(target[valid].T, occupied.shape)
        better = group_d2[valid] < best_d2[flat]
        best_d2[flat[better]] = group_d2[valid][better]
        nearest[flat[better]] = order[first[valid][better]]
    nearest = nearest.reshape(occupied.shape)

    steps = [np.array(s) for s in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))]
    while True:
        done = nearest >= 0
        padded = np.pad(done, 1)
        grown = np.zeros_like(done)
        for step in steps:
            grown |= padded[1 + step[0]: r + 1 + step[0], 1 + step[1]: r + 1 + step[1], 1 + step[2]: r + 1 + step[2]]
        frontier = np.argwhere(occupied & ~done & grown)
        if not len(frontier):
            return nearest
        held = np.pad(nearest, 1, constant_values=-1)
        candidates = np.stack([held[tuple((frontier + 1 + step).T)] for step in steps], axis=1)  # [N, 6]
        d2 = ((frontier[:, None, :] + 0.5 - samples[candidates]) ** 2).sum(axis=2)
        d2[candidates < 0] = np.inf
        best = candidates[np.arange(len(frontier)), d2.argmin(axis=1)]
        nearest[tuple(frontier.T)] = best
