"""Scripting API: populate scenes from Python, blocking, no timers and no add-on registration needed.

Works inside Blender (`blender -b -P script.py`, the Python console) and with the `bpy` module from
PyPI. With the installed extension, import it as `bl_ext.user_default.voxel_diffusion.blender.api`; from a
source checkout, put the repository root on sys.path and `from blender_addon.blender import api`.

    from blender_addon.blender import api
    objs = api.generate_objects([("chair", 1), ("table", 7)], mesh_style="cubes", mesh_size=1.5)
    api.populate_grid(["chair", "lamp"], seeds=[0, 1, 2], spacing=2.0)
    api.scatter_on_plane(8, ["chair", "table"], area=(10, 10), min_distance=0.3, seed=3)
    api.save_blend("/tmp/scene.blend")

Artist control (protocol 1.4 servers):

    obj = api.generate_from_mesh(bpy.data.objects["Blockout"], "chair", strength=0.6)   # beside it
    api.inpaint(obj, (0, 0, 8, 16, 16, 16))            # regenerate the top half, keep the rest exactly
    api.inpaint(obj, bpy.data.objects["Box"])          # or the voxels inside a helper's bounds
    api.blend("chair", 1, 7, 5)                        # 5 in-betweens from seed 1's chair to seed 7's
    api.generate_objects([("lamp", 3)], palette=6)     # palette: K colours, a preset ("pico8"), '#rrggbb,...'
    api.export_vox(obj, "/tmp/chair.vox")
    api.generate_from_vox("/tmp/chair.vox", "table", strength=0.7)   # a .vox model as the block-out

Every function talks to the server at host:port (see `python -m server serve`) and raises
`GenerationError` with a readable message when it is unavailable or refuses a request, and ValueError
for a bad argument (a non-mesh object, a box outside the grid, a strength outside [0, 1], ...).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import bpy
import numpy as np

from . import scene_build
from ..shared.client import DEFAULT_TIMEOUT_S
from ..shared.generation import (NO_HUE, GenerationParams, GridSource, MeshStyle, Sampler, StartGrid, palette_kwargs,
                                 region_box, vox_source)
from ..shared.background import GeneratedObject, GenerationError, ServerAddress, check_server, generate_many
from ..shared.layout import footprint_radius, grid_positions, scatter_positions
from ..shared.protocol import DEFAULT_PORT, ServerInfo
from ..shared.vox import read_vox
from ..shared.settings import (DEFAULT_ALPHA_THRESHOLD, DEFAULT_GUIDANCE, DEFAULT_JOIN_PARTS, DEFAULT_MESH_SIZE, DEFAULT_MESH_STYLE,
                               DEFAULT_SAMPLER, DEFAULT_STEPS)

__all__ = ["GenerationError", "server_info", "generate_objects", "populate_grid", "scatter_on_plane", "save_blend",
           "generate_from_mesh", "inpaint", "blend", "export_vox", "palette_text", "object_voxels"]

MAX_OBJECT_SEED = 2**31 - 1
"""Seeds stored on objects are ID property ints (signed 32-bit)."""

Palette = int | str | Sequence[str] | None
"""A palette option: None (the model's colours), K (a number of colours made from the object's own), a preset
name (`palette.PRESETS`: "pico8", "gameboy", "grayscale8") or '#rrggbb' strings."""


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
    join_parts: bool = DEFAULT_JOIN_PARTS,
    palette: Palette = None,
    hue: float | None = None,
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
    the server's models (`server_info().models`; "" is its default). `palette`: see `Palette`; colours are
    snapped before meshing, so the mesh and the stored voxels show the palette. `join_parts`: where an object breaks
    at the threshold (a thin leg), the server joins the pieces along its most confident voxels and removes floating
    specks (False: as sampled). `hue`: the main colour asked of a model that takes one
    (`server_info().model(name).hue_conditional`), in [0, 1] from red (1/3 green, 2/3 blue); None: each seed's own.
    """
    text = palette_text(palette)
    params = [GenerationParams(class_name=c, seed=int(s), model=model, steps=steps, sampler=sampler, guidance=guidance,
                               mesh_style=mesh_style, alpha_threshold=alpha_threshold, mesh_size=mesh_size,
                               join_parts=join_parts, palette=text, hue=hue_param(hue)) for c, s in specs]
    results, model_name = generate_many(ServerAddress(host, port, timeout_s), params)
    return _build(results, model_name, location, locations, rotations_z, mesh_size, collection, scene)


def _build(results: Sequence[GeneratedObject], model_name: str, location, locations, rotations_z, mesh_size: float,
           collection, scene) -> list[bpy.types.Object]:
    scene = scene or bpy.context.scene
    if locations is None:
        locations = scene_build.row_locations(location, len(results), 1.25 * mesh_size)
    collection = collection or scene_build.voxel_collection(scene)
    objects = []
    for i, (r, loc) in enumerate(zip(results, locations)):
        obj = scene_build.build_object(r.mesh, r.params, collection=collection, location=loc, model_name=model_name,
                                       voxels=r.voxels)
        if rotations_z is not None:
            obj.rotation_euler.z = rotations_z[i]
        objects.append(obj)
    return objects


def hue_param(hue: float | None) -> float:
    """A `hue` option as GenerationParams.hue stores it (NO_HUE for None; GenerationParams checks the rest)."""
    return NO_HUE if hue is None else hue


def palette_text(palette: Palette) -> str:
    """A `Palette` option as `GenerationParams.palette` stores it ("" for None). Raises ValueError."""
    if palette is None:
        return ""
    if isinstance(palette, bool):
        raise ValueError(f"a palette is a number of colours, a preset name or '#rrggbb' colours, got {palette!r}")
    if isinstance(palette, (int, np.integer)):
        text = str(int(palette))
    elif isinstance(palette, str):
        text = palette
    else:
        text = ",".join(str(c) for c in palette)
    palette_kwargs(text)
    return text


def _check_strength(strength: float) -> float:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be a number in [0, 1] (1: ignore the start grid, 0: keep it), got {strength!r}")
    return float(strength)


def generate_from_grid(
    grid: StartGrid | GridSource,
    class_name: str,
    *,
    strength: float = 0.6,
    seed: int = 0,
    model: str = "",
    palette: Palette = None,
    mesh_style: MeshStyle = DEFAULT_MESH_STYLE,
    mesh_size: float = DEFAULT_MESH_SIZE,
    steps: int = DEFAULT_STEPS,
    sampler: Sampler = DEFAULT_SAMPLER,
    guidance: float = DEFAULT_GUIDANCE,
    alpha_threshold: float = DEFAULT_ALPHA_THRESHOLD,
    join_parts: bool = DEFAULT_JOIN_PARTS,
    hue: float | None = None,
    location: Sequence[float] = (0.0, 0.0, 0.0),
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    collection: bpy.types.Collection | None = None,
    scene: bpy.types.Scene | None = None,
) -> bpy.types.Object:
    """A `class_name` object grown from a start grid (a StartGrid with init float32 [C, R, R, R] at the model's
    resolution, or a function making one for the server's model) at `strength` (SDEdit: 0 keeps the grid, 1
    ignores it; 0.4-0.7 keeps a block-out's shape and lets the model add the details), standing at `location`.
    `hue`: as in `generate_objects`. Raises ValueError (bad grid, strength or hue) or GenerationError (server)."""
    params = GenerationParams(class_name=class_name, seed=int(seed), model=model, steps=steps, sampler=sampler,
                              guidance=guidance, mesh_style=mesh_style, alpha_threshold=alpha_threshold,
                              mesh_size=mesh_size, join_parts=join_parts, strength=_check_strength(strength),
                              palette=palette_text(palette), hue=hue_param(hue))
    results, model_name = generate_many(ServerAddress(host, port, timeout_s), [params], [grid])
    return _build(results, model_name, location, None, None, mesh_size, collection, scene)[0]


def generate_from_mesh(obj: bpy.types.Object, class_name: str, *, location: Sequence[float] | None = None,
                       **settings) -> bpy.types.Object:
    """A `class_name` object grown from `obj` (a block-out, an earlier result, any mesh): its evaluated mesh is
    voxelised in world space (`scene_build.source_mesh`: modifiers applied, triangulated, colours from the
    active colour attribute, else the materials' base colours, else grey) at the model's grid, placed like
    the training objects. It lands beside `obj` (+x) unless `location` is given; `settings`: the keywords of
    `generate_from_grid` (strength, seed, model, palette, ...). Raises ValueError or GenerationError."""
    source = scene_build.source_mesh(obj)
    if location is None:
        location = scene_build.beside(source.bounds, settings.get("mesh_size", DEFAULT_MESH_SIZE))
    return generate_from_grid(source.start_grid, class_name, location=location, **settings)


def generate_from_vox(path: str | Path, class_name: str, **settings) -> bpy.types.Object:
    """A `class_name` object grown from a MagicaVoxel .vox file (its first model, placed in the model's grid like
    the training objects; no larger than the grid); `settings`: the keywords of `generate_from_grid`. Raises
    ValueError (a bad file, strength, ...) or GenerationError (server)."""
    path = Path(bpy.path.abspath(str(path)))
    read_vox(path)  # a bad file fails here, before any request
    return generate_from_grid(vox_source(path), class_name, **settings)


def _generated(obj) -> GenerationParams:
    params = scene_build.stored_params(obj)
    if params is None:
        name = getattr(obj, "name", None)
        raise ValueError(f"{name or 'no object'}: not an object Voxel Diffusion generated (it has no stored settings)")
    return params


def object_voxels(obj: bpy.types.Object, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                  timeout_s: float = DEFAULT_TIMEOUT_S) -> np.ndarray:
    """A generated object's voxels float32 [C, R, R, R]: the grid stored on it, or for objects made before
    grids were stored, generated again from its params (same seed, same model: the same grid)."""
    params = _generated(obj)
    voxels = scene_build.stored_voxels(obj)
    if voxels is not None:
        return voxels
    if params.from_grid:
        raise GenerationError(f"{obj.name} stores no voxel grid and was made from one (a mesh or a region edit), so "
                              "it cannot be generated again: Regenerate it or make it anew")
    results, _ = generate_many(ServerAddress(host, port, timeout_s), [params])
    return results[min(params.blend_index, len(results) - 1)].voxels


def inpaint(
    obj: bpy.types.Object,
    box,
    *,
    seed: int | None = None,
    strength: float = 1.0,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> bpy.types.Object:
    """Regenerate the voxels of a generated object inside `box` and keep every other voxel exactly.

    box: (x0, y0, z0, x1, y1, z1) voxel indices of the object's grid, the ends exclusive, or a helper object
    (a cube, an empty) whose world-space bounds cover the part: the voxels whose centres lie inside them.
    seed: the region's noise; None takes the object's seed + 1 (a different result each call, yet
    reproducible). strength: below 1 the region starts from what is there (SDEdit inside the region).
    The object keeps its name, transform and material; its geometry, stored voxels and params are replaced
    in one undo step. Raises ValueError (not a generated object, a box outside the grid) or GenerationError."""
    params = _generated(obj)
    strength = _check_strength(strength)
    voxels = object_voxels(obj, host=host, port=port, timeout_s=timeout_s)
    region = region_box(scene_build.region_of(obj, voxels, params, box), voxels.shape[1])
    seed = (params.seed + 1) % (MAX_OBJECT_SEED + 1) if seed is None else int(seed)
    new = replace(params.plain(), seed=seed, strength=strength, inpainted=True)
    results, model_name = generate_many(ServerAddress(host, port, timeout_s), [new], [StartGrid(voxels, region)])
    r = results[0]
    scene_build.replace_geometry(obj, r.mesh, r.params, model_name, r.voxels)
    scene_build.undo_push(f"Voxel Diffusion: regenerate a region of {obj.name}")
    return obj


def blend(
    class_name: str,
    seed_a: int,
    seed_b: int,
    n: int,
    *,
    location: Sequence[float] = (0.0, 0.0, 0.0),
    spacing: float | None = None,
    mesh_size: float = DEFAULT_MESH_SIZE,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    collection: bpy.types.Collection | None = None,
    scene: bpy.types.Scene | None = None,
    **kwargs,
) -> list[bpy.types.Object]:
    """`n` objects side by side (+x from `location`, `spacing` apart, default 1.25 x mesh_size) morphing from
    seed_a's object (the first) to seed_b's (the last): every noise draw mixed between the two seeds. Named
    "<class>_<seed_a>-<seed_b>_<i>". Other keywords (model, steps, palette, mesh_style, ...) as in
    `generate_objects`. Raises ValueError (n below 1 or above the server's count limit) or GenerationError."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 16:
        raise ValueError(f"a blend makes 1 to 16 objects, got n={n!r}")
    palette = palette_text(kwargs.pop("palette", None))
    fields = {k: kwargs.pop(k) for k in ("model", "mesh_style", "steps", "sampler", "guidance", "alpha_threshold", "join_parts")
              if k in kwargs}
    fields["hue"] = hue_param(kwargs.pop("hue", None))
    if kwargs:
        raise TypeError(f"blend() got unexpected keywords {sorted(kwargs)}")
    params = GenerationParams(class_name=class_name, seed=int(seed_a), mesh_size=mesh_size, palette=palette,
                              blend_seed=int(seed_b), blend_count=int(n), **fields)
    results, model_name = generate_many(ServerAddress(host, port, timeout_s), [params])
    spacing = 1.25 * mesh_size if spacing is None else spacing
    locations = scene_build.row_locations(location, len(results), spacing)
    return _build(results, model_name, location, locations, None, mesh_size, collection, scene)


def export_vox(obj: bpy.types.Object, path: str | Path, palette: Palette = None, *, host: str = "127.0.0.1",
               port: int = DEFAULT_PORT, timeout_s: float = DEFAULT_TIMEOUT_S) -> Path:
    """Write a generated object's voxels as a MagicaVoxel .vox (its grid axes, z up; voxels at or above its
    alpha threshold). palette: None keeps its colours (at most 255, else a median cut); K or a preset / colours
    snap them first, flat per part, and the file's palette is those colours. Returns the absolute path."""
    params = _generated(obj)
    text = palette_text(palette)
    return scene_build.export_vox(path, object_voxels(obj, host=host, port=port, timeout_s=timeout_s), params, text)


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
