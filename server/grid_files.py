"""Grids in and out of `generate`: a start grid from .npz / .vox / .obj, a region box, .vox output."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from blender_addon.shared.vox import vox_start_grid

INIT_SUFFIXES = (".npz", ".vox", ".obj")


def load_init(path: Path, channels: int, resolution: int) -> np.ndarray:
    """The grid a request starts from, float32 [channels, R, R, R] in [0, 1].

    .npz: `voxels` [C, R, R, R] (what `generate` writes); .vox: a MagicaVoxel model, placed in the grid like the
    data (centred in x and y, on the floor; a larger one is refused); .obj: a mesh, voxelised at the resolution
    (vertex colours `v x y z r g b` when present). Raises ValueError saying what is wrong."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            if "voxels" not in f:
                raise ValueError(f"{path} has no 'voxels' array (expected what `generate` writes)")
            grid = np.asarray(f["voxels"], np.float32)
    elif suffix == ".vox":
        grid = vox_start_grid(path, resolution, channels)
    elif suffix == ".obj":
        from blender_addon.shared.voxelize import voxelize

        vertices, faces, colors = read_obj(path)
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
