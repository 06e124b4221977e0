"""Voxel grid -> mesh arrays (numpy only; scikit-image imported lazily for marching cubes).

Both styles share one object frame: voxel (i, j, k) spans [i, i+1] x [j, j+1] x [k, k+1] in lattice
units; the mesh is scaled so the grid's longest side equals `size`, centred on the grid in x/y, and
shifted so its lowest vertex sits at z = 0 (objects rest on the 3D cursor or the ground).
Colours are returned as stored in the grid (display sRGB); the Blender side converts to linear.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .colors import voxel_rgb, with_alpha

DEFAULT_THRESHOLD = 0.9


@dataclass(frozen=True)
class MeshArrays:
    """A mesh ready for bulk upload to Blender.

    vertices: float32 [V, 3]; faces: int32 [F, 4] quads (cubes) or [F, 3] triangles (smooth);
    face_colors: float32 [F, 4] RGBA per face (cubes) or None;
    vertex_colors: float32 [V, 4] RGBA per vertex (smooth) or None.
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_colors: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None

    @property
    def is_empty(self) -> bool:
        return len(self.faces) == 0


# Corner offsets of a face in the (b, c) plane, counter-clockwise seen from the +a side,
# where (a, b, c) is a cyclic permutation of (x, y, z).
_QUAD_CORNERS = np.array([(0, 0), (1, 0), (1, 1), (0, 1)], dtype=np.int64)


def _occupancy(voxels: np.ndarray, threshold: float) -> np.ndarray:
    if voxels.ndim != 4 or voxels.shape[0] not in (1, 4):
        raise ValueError(f"expected voxels [C, X, Y, Z] with C in (1, 4), got {voxels.shape}")
    return voxels[-1] >= threshold


def _place(vertices: np.ndarray, grid_shape: tuple[int, int, int], size: float) -> np.ndarray:
    """Lattice coordinates [V, 3] -> object frame (see module docstring)."""
    scale = size / max(grid_shape)
    out = vertices.astype(np.float64)
    out[:, 0] -= grid_shape[0] / 2
    out[:, 1] -= grid_shape[1] / 2
    if len(out):
        out[:, 2] -= out[:, 2].min()
    return (out * scale).astype(np.float32)


def _empty(quads: bool) -> MeshArrays:
    faces = np.zeros((0, 4 if quads else 3), dtype=np.int32)
    colors = np.zeros((0, 4), dtype=np.float32)
    if quads:
        return MeshArrays(np.zeros((0, 3), np.float32), faces, face_colors=colors)
    return MeshArrays(np.zeros((0, 3), np.float32), faces, vertex_colors=colors)


def cube_mesh(voxels: np.ndarray, threshold: float = DEFAULT_THRESHOLD, size: float = 1.0) -> MeshArrays:
    """Blocky mesh: one quad per face between an occupied and an empty voxel.

    Args:
        voxels: float [C, X, Y, Z] in [0, 1], C = 4 (RGBA) or 1 (alpha); occupied where alpha >= threshold.
        threshold: alpha threshold.
        size: length of the grid's longest side in the object frame.
    Returns:
        MeshArrays with shared (deduplicated) vertices [V, 3], outward-facing quads [F, 4] and
        face_colors [F, 4] = the RGB of the occupied voxel owning the face, alpha 1.
    """
    occ = _occupancy(voxels, threshold)
    if not occ.any():
        return _empty(quads=True)
    rgb = voxel_rgb(voxels)
    padded = np.pad(occ, 1)
    shape = np.array(occ.shape)
    corner_ids, colors = [], []
    for axis in range(3):
        b, c = (axis + 1) % 3, (axis + 2) % 3
        for sign in (1, -1):
            neighbour = np.roll(padded, -sign, axis=axis)[1:-1, 1:-1, 1:-1]
            cells = np.argwhere(occ & ~neighbour)  # [N, 3]
            if not len(cells):
                continue
            base = cells.copy()
            base[:, axis] += 1 if sign > 0 else 0
            order = _QUAD_CORNERS if sign > 0 else _QUAD_CORNERS[::-1]
            corners = np.repeat(base[:, None, :], 4, axis=1)  # [N, 4, 3]
            corners[:, :, b] += order[:, 0]
            corners[:, :, c] += order[:, 1]
            corner_ids.append(np.ravel_multi_index(corners.reshape(-1, 3).T, shape + 1).reshape(-1, 4))
            colors.append(rgb[:, cells[:, 0], cells[:, 1], cells[:, 2]].T)
    ids = np.concatenate(corner_ids)
    unique_ids, faces = np.unique(ids, return_inverse=True)
    lattice = np.stack(np.unravel_index(unique_ids, shape + 1), axis=1)
    return MeshArrays(
        vertices=_place(lattice, occ.shape, size),
        faces=faces.reshape(-1, 4).astype(np.int32),
        face_colors=with_alpha(np.concatenate(colors)),
    )


def _dilate_colors(rgb: np.ndarray, occ: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Push colours of occupied voxels into empty neighbours (mean of filled 3x3x3 neighbours).

    rgb: [3, X, Y, Z]; occ: bool [X, Y, Z]. Returns [3, X, Y, Z] float32; occupied voxels unchanged.
    """
    rgb = np.where(occ, rgb, 0.0).astype(np.float32)
    filled = occ.copy()
    dims = occ.shape
    for _ in range(iterations):
        pr = np.pad(rgb * filled, ((0, 0), (1, 1), (1, 1), (1, 1)))
        pw = np.pad(filled.astype(np.float32), 1)
        total = np.zeros_like(rgb)
        count = np.zeros(dims, np.float32)
        for dx in range(3):
            for dy in range(3):
                for dz in range(3):
                    sl = (slice(dx, dx + dims[0]), slice(dy, dy + dims[1]), slice(dz, dz + dims[2]))
                    total += pr[(slice(None), *sl)]
                    count += pw[sl]
        grow = ~filled & (count > 0)
        rgb = np.where(grow, total / np.maximum(count, 1.0), rgb)
        filled = filled | grow
    return rgb


def _trilinear(grid: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Sample grid [C, X, Y, Z] at points [V, 3] (index coordinates, clamped). Returns [V, C]."""
    hi = np.array(grid.shape[1:]) - 1
    p = np.clip(points, 0, hi)
    i0 = np.minimum(np.floor(p).astype(np.int64), np.maximum(hi - 1, 0))
    f = (p - i0).astype(np.float32)
    out = np.zeros((len(p), grid.shape[0]), dtype=np.float32)
    for corner in np.ndindex(2, 2, 2):
        w = np.prod(np.where(np.array(corner), f, 1.0 - f), axis=1)
        idx = np.minimum(i0 + np.array(corner), hi)
        out += w[:, None] * grid[:, idx[:, 0], idx[:, 1], idx[:, 2]].T
    return out


def smooth_mesh(voxels: np.ndarray, threshold: float = DEFAULT_THRESHOLD, size: float = 1.0) -> MeshArrays:
    """Closed (watertight) marching-cubes surface of the alpha field at level `threshold`.

    The alpha grid is padded by one empty voxel so the surface always closes. Vertex colours are
    sampled trilinearly from the RGB grid after occupied colours were pushed into empty neighbours,
    so the surface does not darken toward the black (RGB = 0) empty voxels.

    Args:
        voxels: float [C, X, Y, Z] in [0, 1], C = 4 (RGBA) or 1 (alpha).
        threshold: iso level on alpha; also the occupancy threshold for colours.
        size: length of the grid's longest side in the object frame.
    Returns:
        MeshArrays with vertices [V, 3], outward-wound triangles [F, 3], vertex_colors [V, 4]; empty
        (V = F = 0) when the level is not strictly inside the alpha range (e.g. threshold 1.0).
    Requires scikit-image (present on the server, not in Blender).
    """
    from skimage.measure import marching_cubes

    occ = _occupancy(voxels, threshold)
    alpha = np.pad(np.asarray(voxels[-1], dtype=np.float32), 1)
    if not occ.any() or not alpha.min() < threshold < alpha.max():  # no crossing: no surface
        return _empty(quads=False)
    verts, faces, _normals, _values = marching_cubes(alpha, level=threshold, allow_degenerate=False)
    # skimage winds triangles clockwise seen from the high-value side; flip to outward CCW.
    faces = faces[:, ::-1]
    rgb = np.pad(voxel_rgb(voxels), ((0, 0), (1, 1), (1, 1), (1, 1)))
    vertex_rgb = _trilinear(_dilate_colors(rgb, np.pad(occ, 1)), verts)
    # Padded index p is voxel centre p - 1 + 0.5 in lattice units.
    return MeshArrays(
        vertices=_place(verts - 0.5, occ.shape, size),
        faces=np.ascontiguousarray(faces, dtype=np.int32),
        vertex_colors=with_alpha(vertex_rgb),
    )


def lattice_offset(voxels: np.ndarray, threshold: float, style: str) -> np.ndarray:
    """Where the mesh frame's origin lies in lattice units, for the mesh `cube_mesh` ("cubes") or `smooth_mesh`
    ("smooth") makes of `voxels`: object-frame point p is lattice point p * max(R) / size + offset.

    x, y: the grid's centre. z: the mesh's lowest vertex (meshes stand on z = 0): the bottom of the lowest
    occupied layer for cubes; for smooth meshes the lowest marching-cubes crossing, on the vertical edges
    below that layer (linear interpolation of alpha, as marching cubes does). float64 [3]; an empty grid
    gives z = 0. Lets the add-on map a region or a helper object's bounds onto voxels, and recolour a smooth
    mesh the server made (`smooth_vertex_colors`) without scikit-image."""
    occ = _occupancy(voxels, threshold)
    offset = np.array([occ.shape[0] / 2, occ.shape[1] / 2, 0.0])
    layers = np.flatnonzero(occ.any(axis=(0, 1)))
    if not len(layers):
        return offset
    k = int(layers[0])
    if style == "cubes":
        offset[2] = k
        return offset
    alpha = np.asarray(voxels[-1], dtype=np.float64)
    a1 = alpha[:, :, k][occ[:, :, k]]
    a0 = alpha[:, :, k - 1][occ[:, :, k]] if k > 0 else np.zeros_like(a1)
    t = (threshold - a0) / np.where(a1 > a0, a1 - a0, 1.0)
    offset[2] = k + float(np.clip(t, 0.0, 1.0).min()) - 0.5  # padded index k + t, voxel centres at +0.5
    return offset


def smooth_vertex_colors(voxels: np.ndarray, vertices: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
                         size: float = 1.0) -> np.ndarray:
    """The vertex colours `smooth_mesh` gives its vertices, for any vertices in the same object frame (e.g.
    the server's smooth mesh of the same alpha, recoloured after a palette snap). float32 [V, 4]."""
    occ = _occupancy(voxels, threshold)
    offset = lattice_offset(voxels, threshold, "smooth")
    lattice = np.asarray(vertices, np.float64) * (max(occ.shape) / size) + offset
    rgb = np.pad(voxel_rgb(voxels), ((0, 0), (1, 1), (1, 1), (1, 1)))
    return with_alpha(_trilinear(_dilate_colors(rgb, np.pad(occ, 1)), lattice + 0.5))
