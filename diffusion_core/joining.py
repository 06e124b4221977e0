"""Join an object's broken parts along the decoder's most confident voxels (numpy + scipy, no torch).

At the alpha threshold a thin leg or pole sometimes breaks where the decoder's alpha dips just under it:
the material is there, only less certain. `join_parts` finds, for every piece but the largest, the path
to the largest that misses the least confidence (each step costs threshold - alpha; occupied voxels are
free) through voxels of alpha >= `floor`, and raises the alpha on that path to the threshold. A piece with
no such path stays apart; an object already in one piece is returned unchanged.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from blender_addon.shared.settings import JOIN_ALPHA_FLOOR

_FACES = ndimage.generate_binary_structure(3, 1)  # 6-connectivity, as the connectivity metric
_OCCUPIED_COST = 1e-6  # walking through the object costs (almost) nothing


def join_parts(voxels: np.ndarray, alpha_threshold: float, floor: float = JOIN_ALPHA_FLOOR,
               allowed: np.ndarray | None = None) -> np.ndarray:
    """float32 voxels [N, C, R, R, R] (alpha last) -> a copy with each object's pieces joined.

    allowed: optional bool [R, R, R] or [N, R, R, R]: only these voxels may be added (an inpainting region)."""
    if voxels.ndim != 5:
        raise ValueError(f"voxels must be [N, C, R, R, R], got shape {voxels.shape}")
    if not 0.0 <= floor <= alpha_threshold:
        raise ValueError(f"floor must be in [0, alpha_threshold={alpha_threshold}], got {floor}")
    out = np.array(voxels, dtype=np.float32, copy=True)
    for i in range(len(out)):
        mask = None if allowed is None else (allowed if allowed.ndim == 3 else allowed[i])
        path = joining_path(out[i, -1], alpha_threshold, floor, mask)
        out[i, -1][path] = np.maximum(out[i, -1][path], alpha_threshold)
    return out


def joining_path(alpha: np.ndarray, alpha_threshold: float, floor: float = JOIN_ALPHA_FLOOR,
                 allowed: np.ndarray | None = None) -> np.ndarray:
    """alpha [X, Y, Z] -> bool [X, Y, Z]: the unoccupied voxels (alpha < threshold) that join the pieces of
    `alpha >= alpha_threshold` to its largest piece (all False when it is one piece, or empty)."""
    occupied = alpha >= alpha_threshold
    pieces, count = ndimage.label(occupied, _FACES)
    added = np.zeros(alpha.shape, bool)
    if count <= 1:
        return added
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
