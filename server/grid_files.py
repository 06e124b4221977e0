"""Grids in and out of `generate`: a start grid from .npz / .vox / .obj, a region box, .vox output."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from blender_addon.shared.vox import vox_start_grid

INIT_SUFFIXES = (".npz", ".vox", ".obj", ".ply")
_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2", "ushort": "u2",
              "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4",
              "double": "f8", "float64": "f8"}


def load_init(path: Path, channels: int, resolution: int) -> np.ndarray:
    """The grid a request starts from, float32 [channels, R, R, R] in [0, 1].

    .npz: `voxels` [C, R, R, R] (what `generate` writes); .vox: a MagicaVoxel model, placed in the grid like the
    data (centred in x and y, on the floor; a larger one is refused); .obj / .ply: a mesh, voxelised at the
    resolution (with its vertex colours when it has them). Raises ValueError saying what is wrong."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            if "voxels" not in f:
                raise ValueError(f"{path} has no 'voxels' array (expected what `generate` writes)")
            grid = np.asarray(f["voxels"], np.float32)
    elif suffix == ".vox":
        grid = vox_start_grid(path, resolution, channels)
    elif suffix in (".obj", ".ply"):
        from blender_addon.shared.voxelize import voxelize

        vertices, faces, colors = (read_obj if suffix == ".obj" else read_ply)(path)
        grid = voxelize(vertices, faces, resolution, vertex_colors=colors)
    else:
        raise ValueError(f"{path}: start grids are {', '.join(INIT_SUFFIXES)} files")
    if channels == 1 and grid.shape[0] == 4:
        grid = grid[3:]
    if grid.shape != (channels,) + (resolution,) * 3:
        raise ValueError(f"{path} holds a {list(grid.shape)} grid; this model needs [{channels}, {resolution}, "
                         f"{resolution}, {resolution}]")
    return np.clip(grid, 0.0, 1.0)


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A Wavefront OBJ's vertices float [V, 3], triangulated faces int [F, 3] and vertex colours float [V, 3]
    (None unless every vertex line carries r g b). Polygons are fan-triangulated; texture and normal indices
    and negative (relative) indices are handled."""
    vertices, colors, faces = [], [], []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if parts[0] == "v":
                vertices.append([float(v) for v in parts[1:4]])
                colors.append([float(c) for c in parts[4:7]] if len(parts) >= 7 else None)
            elif parts[0] == "f":
                ids = [int(p.split("/")[0]) for p in parts[1:]]
                ids = [i - 1 if i > 0 else len(vertices) + i for i in ids]
                faces += [[ids[0], ids[k], ids[k + 1]] for k in range(1, len(ids) - 1)]
        except (ValueError, IndexError):
            raise ValueError(f"{path}:{number}: cannot read {line.strip()!r}") from None
    if not vertices or not faces:
        raise ValueError(f"{path} has no faces: nothing to voxelise")
    rgb = None if any(c is None for c in colors) else np.asarray(colors, np.float32)
    return np.asarray(vertices, np.float64), np.asarray(faces, np.int64), rgb


def region_box(text: str, resolution: int) -> np.ndarray:
    """'x0,y0,z0,x1,y1,z1' (voxel indices, the end exclusive) -> bool [R, R, R], True inside the box."""
    try:
        x0, y0, z0, x1, y1, z1 = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--region wants six integers x0,y0,z0,x1,y1,z1, got {text!r}") from None
    if not (0 <= x0 < x1 <= resolution and 0 <= y0 < y1 <= resolution and 0 <= z0 < z1 <= resolution):
        raise ValueError(f"--region {text} is not a non-empty box inside the {resolution}^3 grid")
    region = np.zeros((resolution,) * 3, bool)
    region[x0:x1, y0:y1, z0:z1] = True
    return region


def read_ply(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A PLY mesh (ascii or binary little-endian): vertices float [V, 3], fan-triangulated faces int [F, 3] and
    vertex colours float [V, 3] in [0, 1] (None without red/green/blue). Other elements are skipped when their
    size is known (scalar properties, or any element of an ascii file)."""
    data = path.read_bytes()
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise ValueError(f"{path} is not a PLY file (no 'ply' ... 'end_header' header)")
    body = data[data.index(b"\n", end) + 1:]
    elements: list[tuple[str, int, list[tuple]]] = []
    fmt = ""
    for line in data[:end].decode("ascii", "replace").splitlines()[1:]:
        parts = line.split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        if parts[0] == "format":
            fmt = parts[1]
        elif parts[0] == "element":
            elements.append((parts[1], int(parts[2]), []))
        elif parts[0] == "property" and elements:
            elements[-1][2].append(tuple(parts[1:]))
    if fmt not in ("ascii", "binary_little_endian"):
        raise ValueError(f"{path}: PLY format {fmt or '?'} is not supported (ascii or binary_little_endian)")
    try:
        tables = _ply_ascii(body, elements) if fmt == "ascii" else _ply_binary(body, elements)
    except (ValueError, IndexError, KeyError) as e:
        raise ValueError(f"{path}: cannot read its {fmt} body: {e}") from None
    vertex, faces = tables.get("vertex"), tables.get("face")
    if vertex is None or not faces:
        raise ValueError(f"{path} has no faces: nothing to voxelise")
    tris = [[f[0], f[k], f[k + 1]] for f in faces for k in range(1, len(f) - 1)]
    rgb = None
    if all(c in vertex for c in ("red", "green", "blue")):
        rgb = np.stack([vertex[c] for c in ("red", "green", "blue")], 1).astype(np.float32)
        rgb = rgb / 255 if rgb.max(initial=0) > 1 else rgb
    return np.stack([vertex[c] for c in "xyz"], 1).astype(np.float64), np.asarray(tris, np.int64), rgb


def _ply_ascii(body: bytes, elements: list) -> dict:
    rows = iter(body.decode("ascii", "replace").splitlines())
    tables: dict = {}
    for name, count, props in elements:
        lines = [next(rows).split() for _ in range(count)]
        if name == "face":
            tables["face"] = [[int(v) for v in ln[1:1 + int(ln[0])]] for ln in lines]
        elif name == "vertex":
            values = np.asarray(lines, np.float64)
            tables["vertex"] = {p[-1]: values[:, i] for i, p in enumerate(props)}
    return tables


def _ply_binary(body: bytes, elements: list) -> dict:
    tables: dict = {}
    offset = 0
    for name, count, props in elements:
        if all(p[0] != "list" for p in props):
            dtype = np.dtype([(p[-1], "<" + _PLY_TYPES[p[0]]) for p in props])
            table = np.frombuffer(body, dtype, count, offset)
            offset += dtype.itemsize * count
            if name == "vertex":
                tables["vertex"] = {n: table[n].astype(np.float64) for n in dtype.names}
            continue
        if name != "face" or len(props) != 1:
            raise ValueError(f"element {name!r} with list properties cannot be skipped")
        count_type, index_type = np.dtype("<" + _PLY_TYPES[props[0][1]]), np.dtype("<" + _PLY_TYPES[props[0][2]])
        faces = []
        for _ in range(count):
            n = int(np.frombuffer(body, count_type, 1, offset)[0])
            offset += count_type.itemsize
            faces.append(np.frombuffer(body, index_type, n, offset).tolist())
            offset += index_type.itemsize * n
        tables["face"] = faces
    return tables
