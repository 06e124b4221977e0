"""Join an object's broken parts along the decoder's most confident voxels (numpy + scipy, no torch).

At the alpha threshold a thin leg or pole sometimes breaks where the decoder's alpha dips just under it:
the material is there, only less certain. `join_parts` finds, for every piece but the largest, the path
to the largest that misses the least confidence (each step costs threshold - alpha; occupied voxels are
free) through voxels of alpha >= `floor`, and raises the alpha on that path to the threshold. A piece with
no such path stays apart, unless it is a speck (at most `speck_voxels` voxels): its alpha is set to 0. An object
already in one piece is returned unchanged.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from blender_addon.shared.settings import JOIN_ALPHA_FLOOR, JOIN_SPECK_VOXELS_16

_FACES = ndimage.generate_binary_structure(3, 1)  # 6-connectivity, as the connectivity metric
_OCCUPIED_COST = 1e-6  # walking through the object costs (almost) nothing


def join_parts(voxels: np.ndarray, alpha_threshold: float, floor: float = JOIN_ALPHA_FLOOR,
               allowed: np.ndarray | None = None, speck_voxels: int | None = None) -> np.ndarray:
    """float32 voxels [N, C, R, R, R] (alpha last) -> a copy with each object's pieces joined and its specks
    removed.

    allowed: optional bool [R, R, R] or [N, R, R, R]: only these voxels may change (an inpainting region).
    speck_voxels: the largest piece left apart that is removed (default: speck_size(R))."""
    if voxels.ndim != 5:
        raise ValueError(f"voxels must be [N, C, R, R, R], got shape {voxels.shape}")
    if not 0.0 <= floor <= alpha_threshold:
        raise ValueError(f"floor must be in [0, alpha_threshold={alpha_threshold}], got {floor}")
    specks = speck_size(voxels.shape[-1]) if speck_voxels is None else speck_voxels
    out = np.array(voxels, dtype=np.float32, copy=True)
    for i in range(len(out)):
        alpha = out[i, -1]
        pieces, count = _label(alpha, alpha_threshold)
        if count <= 1:
            continue
        mask = None if allowed is None else (allowed if allowed.ndim == 3 else allowed[i])
        path = _path_to_largest(alpha, pieces, count, alpha_threshold, floor, mask)
        if path.any():
            alpha[path] = np.maximum(alpha[path], alpha_threshold)
            pieces, count = _label(alpha, alpha_threshold)  # specks are counted on the joined object
        alpha[_specks(pieces, count, specks, mask)] = 0.0
    return out


def speck_size(resolution: int) -> int:
    """The largest piece left apart that join_parts removes on an R^3 grid: JOIN_SPECK_VOXELS_16 scaled by volume."""
    return int(JOIN_SPECK_VOXELS_16 * (resolution / 16) ** 3)


def _specks(pieces: np.ndarray, count: int, max_voxels: int, allowed: np.ndarray | None) -> np.ndarray:
    """pieces int [X, Y, Z] (labels 1..count, 0 empty) -> bool [X, Y, Z]: the voxels of the pieces other than the
    largest with at most max_voxels voxels (and, with `allowed`, all inside it)."""
    if count <= 1 or max_voxels <= 0:
        return np.zeros(pieces.shape, bool)
    sizes = np.bincount(pieces.ravel(), minlength=count + 1)
    sizes[0] = 0
    small = sizes <= max_voxels
    small[0] = small[int(np.argmax(sizes))] = False
    if allowed is not None:
        outside = np.bincount(pieces[~allowed], minlength=count + 1)
        small &= outside == 0
    return small[pieces]


def joining_path(alpha: np.ndarray, alpha_threshold: float, floor: float = JOIN_ALPHA_FLOOR,
                 allowed: np.ndarray | None = None) -> np.ndarray:
    """alpha [X, Y, Z] -> bool [X, Y, Z]: the unoccupied voxels (alpha < threshold) that join the pieces of
    `alpha >= alpha_threshold` to its largest piece (all False when it is one piece, or empty)."""
    pieces, count = _label(alpha, alpha_threshold)
    if count <= 1:
        return np.zeros(alpha.shape, bool)
    return _path_to_largest(alpha, pieces, count, alpha_threshold, floor, allowed)


def _label(alpha: np.ndarray, alpha_threshold: float) -> tuple[np.ndarray, int]:
    """alpha [X, Y, Z] -> (int [X, Y, Z] labels of the face-connected pieces of alpha >= threshold, count)."""
    return ndimage.label(alpha >= alpha_threshold, _FACES)


def _path_to_largest(alpha: np.ndarray, pieces: np.ndarray, count: int, alpha_threshold: float, floor: float,
                     allowed: np.ndarray | None) -> np.ndarray:
    """joining_path for an object already labelled (count >= 2 pieces)."""
    occupied = pieces > 0
    added = np.zeros(alpha.shape, bool)
    passable = alpha >= floor if allowed is None else (alpha >= floor) & (allowed | occupied)
    cost = np.where(occupied, _OCCUPIED_COST, alpha_threshold - alpha + _OCCUPIED_COST)
    graph = _grid_graph(passable, cost)
    flat = pieces.ravel()
    largest = 1 + int(np.argmax(np.bincount(flat)[1:]))
    dist, pred = dijkstra(graph, indices=np.flatnonzero(flat == largest), min_only=True, return_predecessors=True)[:2]
    for piece in range(1, count + 1):
        if piece == largest:
            continue
        members = np.flatnonzero(flat == piece)
        node = members[np.argmin(dist[members])]
        if not np.isfinite(dist[node]):
            continue  # no path through confident voxels: this piece stays apart
        while flat[node] != largest:
            if flat[node] == 0:
                added.flat[node] = True
            node = pred[node]
    return added


def _grid_graph(passable: np.ndarray, cost: np.ndarray) -> csr_matrix:
    """The directed graph of face-adjacent passable voxels; the edge a -> b costs cost[b]."""
    index = np.arange(passable.size).reshape(passable.shape)
    sources, targets = [], []
    for axis in range(3):
        lo = np.delete(index, -1, axis=axis).ravel()
        hi = np.delete(index, 0, axis=axis).ravel()
        sources += [lo, hi]
        targets += [hi, lo]
    a, b = np.concatenate(sources), np.concatenate(targets)
    keep = passable.ravel()[a] & passable.ravel()[b]
    a, b = a[keep], b[keep]
    return csr_matrix((cost.ravel()[b], (a, b)), shape=(passable.size,) * 2)
