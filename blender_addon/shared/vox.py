"""MagicaVoxel `.vox` files, read and written (numpy + stdlib only).

The format (github ephtracy/voxel-model, "MagicaVoxel-file-format-vox.txt" and "...-extension.txt"):
little-endian int32s; the magic "VOX ", a version (150; MagicaVoxel 0.99 writes 200), then one
RIFF-style chunk "MAIN" whose children are the data. A chunk is id (4 bytes), content size N,
children size M, N bytes of content, M bytes of children. The children used here:

    SIZE  int32 x, y, z: one model's extent (at most 256 each); z is the gravity (up) axis
    XYZI  int32 count, then count x (x, y, z, colour index) bytes; colour index 1..255
    RGBA  256 x (r, g, b, a) bytes; entry i is the colour of index i + 1 (the last entry is unused)

Axes: .vox (x, y, z) is our grid index [:, x, y, z] as it is, both z up and right-handed, the frame of
`meshing.py` (voxel (i, j, k) spans [i, i+1] x [j, j+1] x [k, k+1], objects rest on z = 0). Colours are
the grid's display (sRGB) values in 8 bits; the palette's alpha is not voxel alpha (alpha is occupancy).

Palettes in this module are indexed by colour index: `palette[c]` is the colour of voxels with index c,
`palette[0]` (index 0 means "no voxel") is (0, 0, 0, 0).
"""
from __future__ import annotations

import os
import struct

import numpy as np

from .colors import voxel_rgb

MAX_SIZE = 256
"""MagicaVoxel's largest model along any axis."""
MAX_COLORS = 255
"""Colour indices 1..255; 0 means empty."""
VERSION = 150

_HEADER = struct.Struct("<4si")
_CHUNK = struct.Struct("<4sii")
_LEVELS = (0xFF, 0xCC, 0x99, 0x66, 0x33, 0x00)
_RAMP = (0xEE, 0xDD, 0xBB, 0xAA, 0x88, 0x77, 0x55, 0x44, 0x22, 0x11)


def _default_palette() -> np.ndarray:
    """The spec's `default_palette[256]` (section 8), uint8 [256, 4] indexed by colour index.

    Index 0 is empty; 1..215 the 6x6x6 web cube (levels ff, cc, 99, 66, 33, 00; red slowest, blue
    fastest) without black; then ten-step ramps (ee .. 11) of red, green, blue and grey.
    """
    rows = [(0, 0, 0, 0)]
    rows += [(r, g, b, 255) for r in _LEVELS for g in _LEVELS for b in _LEVELS if (r, g, b) != (0, 0, 0)]
    for mask in ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)):
        rows += [(v * mask[0], v * mask[1], v * mask[2], 255) for v in _RAMP]
    return np.array(rows, dtype=np.uint8)


DEFAULT_PALETTE = _default_palette()
"""uint8 [256, 4]: the palette of files that have no RGBA chunk."""
DEFAULT_PALETTE.setflags(write=False)


# ---------------------------------------------------------------------------------------------- writing


def _pack(rgb: np.ndarray) -> np.ndarray:
    """uint8 [N, 3] -> int64 [N] keys r << 16 | g << 8 | b (for fast unique colours)."""
    rgb = rgb.astype(np.int64)
    return rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]


def _unpack(keys: np.ndarray) -> np.ndarray:
    return np.stack([keys >> 16 & 255, keys >> 8 & 255, keys & 255], axis=1).astype(np.uint8)


def _nearest(colors: np.ndarray, palette: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Index [N] of the nearest palette row (squared RGB distance, ties to the lower index).

    colors: uint8 [N, 3]; palette: uint8 [K, 3]. Uses |p|^2 - 2 c.p (|c|^2 is the same for every p),
    exact in float32 because every term is an integer below 2^24.
    """
    pal = palette.astype(np.float32)
    norms = (pal * pal).sum(axis=1)
    out = np.empty(len(colors), dtype=np.int64)
    for start in range(0, len(colors), chunk):
        block = colors[start : start + chunk].astype(np.float32)
        out[start : start + chunk] = (norms - 2 * block @ pal.T).argmin(axis=1)
    return out


def median_cut(colors: np.ndarray, counts: np.ndarray, k: int = MAX_COLORS) -> np.ndarray:
    """Deterministic median cut: `colors` uint8 [U, 3] (distinct), `counts` [U] voxels each -> uint8 [<=k, 3].

    Starts from one box holding every colour; while there are fewer than k boxes, splits the box with
    the widest channel range (ties: more voxels, then the earlier box) along that channel at the
    voxel-weighted median. Each box's colour is its voxel-weighted mean, rounded.
    """
    def describe(box: np.ndarray) -> tuple[int, int, int]:  # (range, voxels, channel) of a box
        spread = np.ptp(colors[box], axis=0)
        return int(spread.max()), int(counts[box].sum()), int(spread.argmax())

    boxes = [np.arange(len(colors))]
    stats = [describe(boxes[0])]
    while len(boxes) < k:
        best = max(range(len(boxes)), key=lambda i: (stats[i][0], stats[i][1], -i))
        if stats[best][0] == 0:
            break  # every box holds one colour
        box, (_, _, channel) = boxes.pop(best), stats.pop(best)
        values = colors[box, channel]
        order = np.argsort(values, kind="stable")
        cumulative = np.cumsum(counts[box][order])
        median = values[order][np.searchsorted(cumulative, cumulative[-1] / 2)]
        low = values <= median
        if low.all():  # the median is the maximum: split below it instead
            low = values < median
        halves = [box[low], box[~low]]
        boxes[best:best] = halves
        stats[best:best] = [describe(h) for h in halves]
    means = [(colors[b].astype(np.float64) * counts[b, None]).sum(0) / counts[b].sum() for b in boxes]
    return np.rint(np.array(means)).astype(np.uint8)


def _as_palette(palette: np.ndarray) -> np.ndarray:
    """A user palette [K, 3 or 4], uint8 (0..255) or float ([0, 1]) -> uint8 [K, 3]."""
    pal = np.asarray(palette)
    if pal.ndim != 2 or pal.shape[1] not in (3, 4) or not 1 <= len(pal) <= MAX_COLORS:
        raise ValueError(f"palette must be [K, 3] or [K, 4] with 1 <= K <= {MAX_COLORS}, got {pal.shape}")
    pal = pal[:, :3]
    if np.issubdtype(pal.dtype, np.floating):
        if not np.isfinite(pal).all():
            raise ValueError("palette has non-finite values")
        return np.rint(np.clip(pal, 0.0, 1.0) * 255).astype(np.uint8)
    if not np.issubdtype(pal.dtype, np.integer) or pal.min() < 0 or pal.max() > 255:
        raise ValueError("an integer palette must hold values in 0..255 (or pass floats in [0, 1])")
    return pal.astype(np.uint8)


def _chunk(chunk_id: bytes, content: bytes, children: bytes = b"") -> bytes:
    return _CHUNK.pack(chunk_id, len(content), len(children)) + content + children


def write_vox(
    path: str | os.PathLike,
    voxels: np.ndarray,
    alpha_threshold: float,
    palette: np.ndarray | None = None,
) -> None:
    """Write one model (SIZE, XYZI, RGBA inside MAIN, version 150).

    Args:
        path: the file to write.
        voxels: float [C, X, Y, Z], C = 4 (RGBA in [0, 1]) or 1 (alpha only: `colors.MASK_DEFAULT_RGB`),
            each of X, Y, Z in 1..256. Voxels with alpha >= `alpha_threshold` are written.
        alpha_threshold: occupancy threshold on alpha.
        palette: optional [K, 3] or [K, 4] (alpha ignored), K <= 255, uint8 or float in [0, 1]: every
            voxel takes its nearest palette colour (squared 8-bit RGB distance) and the palette is
            stored as given, in order. Without it, colours rounded to 8 bits are kept exactly when
            there are at most 255 of them (in ascending 0xRRGGBB order), else `median_cut` picks 255
            and each voxel takes the nearest of those.
    Raises:
        ValueError: wrong shape, an axis over 256 (or 0), or a bad palette.
    """
    voxels = np.asarray(voxels)
    if voxels.ndim != 4 or voxels.shape[0] not in (1, 4):
        raise ValueError(f"expected voxels [C, X, Y, Z] with C in (1, 4), got {voxels.shape}")
    size = voxels.shape[1:]
    if not all(1 <= s <= MAX_SIZE for s in size):
        raise ValueError(f".vox models are 1..{MAX_SIZE} voxels per axis, got {size}; crop or downsample first")
    occupied = voxels[-1] >= alpha_threshold
    xyz = np.argwhere(occupied)  # [N, 3], x slowest
    rgb = voxel_rgb(voxels)[:, occupied].T  # [N, 3] float
    rgb8 = np.rint(np.clip(np.nan_to_num(rgb), 0.0, 1.0) * 255).astype(np.uint8)
    keys, inverse, counts = np.unique(_pack(rgb8), return_inverse=True, return_counts=True)
    distinct = _unpack(keys)
    if palette is not None:
        pal = _as_palette(palette)
        index = _nearest(distinct, pal)[inverse]
    elif len(distinct) <= MAX_COLORS:
        pal, index = distinct, inverse
    else:
        pal = median_cut(distinct, counts)
        index = _nearest(distinct, pal)[inverse]
    xyzi = np.empty((len(xyz), 4), dtype=np.uint8)
    xyzi[:, :3] = xyz
    xyzi[:, 3] = index + 1
    rgba = np.zeros((256, 4), dtype=np.uint8)
    rgba[:, 3] = 255
    rgba[: len(pal), :3] = pal  # entry i is colour index i + 1
    children = (
        _chunk(b"SIZE", struct.pack("<3i", *size))
        + _chunk(b"XYZI", struct.pack("<i", len(xyzi)) + xyzi.tobytes())
        + _chunk(b"RGBA", rgba.tobytes())
    )
    with open(path, "wb") as f:
        f.write(_HEADER.pack(b"VOX ", VERSION) + _chunk(b"MAIN", b"", children))


# ---------------------------------------------------------------------------------------------- reading


def _chunk_at(data: bytes, offset: int, end: int) -> tuple[bytes, int, int, int]:
    """The chunk at data[offset:] that must end by `end` -> (id, content offset, content size N, children size M)."""
    if offset + _CHUNK.size > end:
        raise ValueError(f"truncated chunk header at byte {offset} (its parent ends at byte {end})")
    chunk_id, n, m = _CHUNK.unpack_from(data, offset)
    label = chunk_id.decode("latin-1")
    if n < 0 or m < 0:
        raise ValueError(f"chunk {label!r} at byte {offset} has a negative size ({n}, {m})")
    body = offset + _CHUNK.size
    if body + n + m > end:
        raise ValueError(
            f"chunk {label!r} at byte {offset} claims {n} + {m} bytes but only {end - body} remain"
            f" (the file is {len(data)} bytes): truncated or corrupt"
        )
    return chunk_id, body, n, m


def _children(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The chunks laid end to end in data[start:end] -> [(id, content offset, content size)]."""
    found = []
    while start < end:
        chunk_id, body, n, m = _chunk_at(data, start, end)
        found.append((chunk_id, body, n))
        start = body + n + m
    return found


def _need(what: str, n: int, size: int) -> None:
    if n < size:
        raise ValueError(f"{what} chunk holds {n} bytes, needs at least {size}")


def read_vox(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read the first model of a `.vox` file.

    Later models (PACK files, MagicaVoxel scenes) are ignored, and so are the scene graph (nTRN, nGRP,
    nSHP: a model's placement and rotation), materials (MATT, MATL), layers, cameras and any other
    chunk. Voxels with colour index 0 are empty (index 0 is not a colour).

    Returns:
        voxels: float32 [4, X, Y, Z]: RGB = palette colour / 255 and alpha 1 where filled, 0 elsewhere.
        palette: uint8 [256, 4] indexed by colour index (see the module docstring): the file's RGBA
            chunk, or `DEFAULT_PALETTE` when it has none.
    Raises:
        ValueError: not a .vox file, a truncated or inconsistent chunk, no model, a model over 256 per
            axis, or a voxel outside its SIZE.
    """
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < _HEADER.size or data[:4] != b"VOX ":
        raise ValueError(f"{os.fspath(path)!r} is not a MagicaVoxel file (no 'VOX ' magic)")
    main_id, main_body, main_n, main_m = _chunk_at(data, _HEADER.size, len(data))
    if main_id != b"MAIN":
        raise ValueError(f"expected the MAIN chunk after the header, found {main_id!r}")
    children_start = main_body + main_n  # MAIN's own content is empty by the spec; skipped if not

    size = xyzi = rgba = None
    for chunk_id, body, n in _children(data, children_start, children_start + main_m):
        if chunk_id == b"SIZE" and size is None:
            _need("SIZE", n, 12)
            size = struct.unpack_from("<3i", data, body)
        elif chunk_id == b"XYZI" and size is not None and xyzi is None:
            _need("XYZI", n, 4)
            (count,) = struct.unpack_from("<i", data, body)
            if count < 0 or 4 + 4 * count > n:
                raise ValueError(f"XYZI chunk claims {count} voxels but holds {n} bytes")
            xyzi = np.frombuffer(data, dtype=np.uint8, count=4 * count, offset=body + 4).reshape(count, 4)
        elif chunk_id == b"RGBA" and rgba is None:
            _need("RGBA", n, 1024)
            rgba = np.frombuffer(data, dtype=np.uint8, count=1024, offset=body).reshape(256, 4)
    if size is None or xyzi is None:
        raise ValueError("no model in the file (needs a SIZE chunk followed by an XYZI chunk)")
    if not all(1 <= s <= MAX_SIZE for s in size):
        raise ValueError(f"model size {size} is outside 1..{MAX_SIZE} per axis")

    if rgba is None:
        palette = DEFAULT_PALETTE.copy()
    else:
        palette = np.zeros((256, 4), dtype=np.uint8)
        palette[1:] = rgba[:255]
    outside = (xyzi[:, :3] >= np.array(size)).any(axis=1)
    if outside.any():
        x, y, z, _ = xyzi[outside][0]
        raise ValueError(f"voxel ({x}, {y}, {z}) lies outside the model size {size} ({outside.sum()} such voxels)")
    filled = xyzi[xyzi[:, 3] > 0]
    voxels = np.zeros((4, *size), dtype=np.float32)
    x, y, z, c = (filled[:, i].astype(np.intp) for i in range(4))
    voxels[:3, x, y, z] = palette[c, :3].T / np.float32(255)
    voxels[3, x, y, z] = 1.0
    return voxels, palette


def vox_start_grid(path: str | os.PathLike, resolution: int, channels: int = 4) -> np.ndarray:
    """A .vox model as a start grid float32 [channels (4 RGBA, or 1: alpha), R, R, R]: placed like the training
    objects (centred in x and y, standing on z = 0). Raises ValueError for a bad file or a model larger than
    the grid."""
    voxels, _ = read_vox(path)
    if max(voxels.shape[1:]) > resolution:
        raise ValueError(f"{os.fspath(path)} is {list(voxels.shape[1:])} voxels: larger than the model's "
                         f"{resolution}^3 grid (crop or downsample it in MagicaVoxel)")
    grid = np.zeros((4,) + (resolution,) * 3, np.float32)
    x0, y0 = ((resolution - n) // 2 for n in voxels.shape[1:3])
    grid[:, x0:x0 + voxels.shape[1], y0:y0 + voxels.shape[2], :voxels.shape[3]] = voxels
    return grid if channels == 4 else grid[3:]
