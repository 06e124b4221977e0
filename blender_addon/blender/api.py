"""Scripting API: populate scenes from Python, blocking, no timers and no add-on registration needed.

Works inside Blender (`blender -b -P script.py`, the Python console) and with the `bpy` module from
PyPI. With the installed extension, import it as `bl_ext.user_default.voxel_diffusion.blender.api`; from a
source checkout, put the repository root on sys.path and `from blender_addon.blender import api`.

    from blender_addon.blender import api
    objs = api.generate_objects([("chair", 1), ("table", 7)], mesh_style="cubes", mesh_size=1.5)
    api.populate_grid(["chair", "lamp"], seeds=[0, 1, 2], spacing=2.0)
    api.scatter_on_plane(8, ["chair", "table"], area=(10, 10), min_distance=0.3, seed=3)
    api.save_blend("/tmp/scene.blend")

Every function talks to the server at host:port (see `python -m server serve`) and raises
`GenerationError` with a readable message when it is unavailable or refuses a request.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import bpy
import numpy as np

from . import scene_build
from ..shared.client import DEFAULT_TIMEOUT_S
from ..shared.generation import GenerationParams, MeshStyle, Sampler
from ..shared.background import GenerationError, ServerAddress, check_server, generate_many
from ..shared.layout import footprint_radius, grid_positions, scatter_positions
from ..shared.protocol import DEFAULT_PORT, ServerInfo
from ..shared.settings import (DEFAULT_ALPHA_THRESHOLD, DEFAULT_GUIDANCE, DEFAULT_MESH_SIZE, DEFAULT_MESH_STYLE,
                               DEFAULT_SAMPLER, DEFAULT_STEPS)

__all__ = ["GenerationError", "server_info", "generate_objects", "populate_grid", "scatter_on_plane", "save_blend"]


def server_info(host: str = "127.0.0.1", port: int = DEFAULT_PORT, timeout_s: float = DEFAULT_TIMEOUT_S) -> ServerInfo:
    """What the server runs (model name, class names, resolution). Raises GenerationError."""
    status = check_server(ServerAddress(host, port, timeout_s))
    if not status.connected:
        raise GenerationError(status.reason)
    return status.info


def generate_objects(
    specs: Sequence[tuple[str, int]],
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    model: str = "",
    mesh_style: MeshStyle = DEFAULT_MESH_STYLE,
    mesh_size: float = DEFAULT_MESH_SIZE,
    steps: int = DEFAULT_STEPS,
    sampler: Sampler = DEFAULT_SAMPLER,
    guidance: float = DEFAULT_GUIDANCE,
    alpha_threshold: float = DEFAULT_ALPHA_THRESHOLD,
    location: Sequence[float] = (0.0, 0.0, 0.0),
    locations: Sequence[Sequence[float]] | None = None,
    rotations_z: Sequence[float] | None = None,
    collection: bpy.types.Collection | None = None,
    scene: bpy.types.Scene | None = None,
) -> list[bpy.types.Object]:
    """Generate one object per (class_name, seed) and link them into `collection`.

    Objects are named "<class>_<seed>", carry their parameters (Regenerate/Variation work on them),
    and stand on `locations[i]`, or in a row along +x from `location` spaced 1.25 * mesh_size.
    `rotations_z`: optional yaw per object in radians. Default collection: "Voxel Diffusion". `model`: which of
    the server's models (`server_info().models`; "" is its default).
    """
    scene = scene or bpy.context.scene
    params = [GenerationParams(class_name=c, seed=int(s), model=model, steps=steps, sampler=sampler, guidance=guidance,
                               mesh_style=mesh_style, alpha_threshold=alpha_threshold, mesh_size=mesh_size) for c, s in specs]
    results, model_name = generate_many(ServerAddress(host, port, timeout_s), params)
    if locations is None:
        locations = scene_build.row_locations(location, len(results), 1.25 * mesh_size)
    collection = collection or scene_build.voxel_collection(scene)
    objects = []
    for i, ((p, mesh), loc) in enumerate(zip(results, locations)):
        obj = scene_build.build_object(mesh, p, collection=collection, location=loc, model_name=model_name)
        if rotations_z is not None:
            obj.rotation_euler.z = rotations_z[i]
        objects.append(obj)
    return objects


def populate_grid(
    classes: Sequence[str],
    seeds: Sequence[int] = (0,),
    *,
    spacing: float | None = None,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    mesh_size: float = DEFAULT_MESH_SIZE,
    **kwargs,
) -> list[bpy.types.Object]:
    """One row per class, one column per seed, from `origin` (columns +x, rows -y).
    `spacing` defaults to 1.5 * mesh_size; other keywords as in `generate_objects`."""
    spacing = 1.5 * mesh_size if spacing is None else spacing
    specs = [(c, s) for c in classes for s in seeds]
    positions = grid_positions(len(classes), len(seeds), spacing, tuple(origin))
    return generate_objects(specs, locations=positions, mesh_size=mesh_size, **kwargs)


def scatter_on_plane(
    n: int,
    classes: Sequence[str],
    *,
    area: tuple[float, float] = (10.0, 10.0),
    min_distance: float = 0.0,
    seed: int = 0,
    center: Sequence[float] = (0.0, 0.0, 0.0),
    mesh_size: float = DEFAULT_MESH_SIZE,
    **kwargs,
) -> list[bpy.types.Object]:
    """`n` objects of random classes and seeds, randomly turned about z, scattered without overlaps
    on the plane z = center.z inside `area` (width, height) around `center`.

    Overlap test: each object's footprint lies inside a circle of radius mesh_size * sqrt(2) / 2; circles
    keep `min_distance` apart. Deterministic for a given `seed`. Raises ValueError if they do not fit.
    """
    radius = footprint_radius(mesh_size)
    points = scatter_positions(n, area, radius, min_distance, seed)
    rng = np.random.default_rng(seed + 1)
    specs = [(classes[int(rng.integers(len(classes)))], int(rng.integers(0, 2**31 - 1))) for _ in range(n)]
    cx, cy, cz = center
    locations = [(cx + x, cy + y, cz) for x, y in points]
    yaw = rng.uniform(0.0, 2 * math.pi, n).tolist()
    return generate_objects(specs, locations=locations, rotations_z=yaw, mesh_size=mesh_size, **kwargs)


def save_blend(path: str | Path) -> Path:
    """Save the current file as `path` (folders created). Returns the absolute path."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path
