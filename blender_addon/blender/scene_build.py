"""Mesh arrays -> Blender objects: bulk mesh upload, colour attribute, shared material, stored params.

Main thread only (bpy). Objects are named "<class>_<seed>", linked into the "Voxel Diffusion"
collection, and carry their `GenerationParams` in the custom property `voxel_diffusion`, so
Regenerate and Variation work from any generated object, with or without the add-on registered.

They also carry their voxel grid (`voxel_diffusion_voxels`: float32, flat, shape in
`voxel_diffusion_grid`), the exact grid their mesh was made from (after any palette snap). Regenerate
Region sends it as the start grid, so every voxel outside the region stays bit for bit what it was, also
for objects that cannot be regenerated from their params (made from a mesh, an earlier region edit, a
snap), with no extra server round trip; Export .vox writes it without the server. It costs 4 x 4 R^3
bytes in the .blend (64 KB at 16^3, 512 KB at 32^3). Objects made before it have no grid: `stored_voxels`
is None for them and the API regenerates it from their params.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from ..shared.colors import MASK_DEFAULT_RGB, linear_to_srgb, srgb_to_linear
from ..shared.generation import GeneratedObject, GenerationParams, StartGrid, box_from_bounds, palette_kwargs
from ..shared.meshing import MeshArrays, cube_mesh, lattice_offset
from ..shared.palette import snap_to_palette
from ..shared.protocol import ModelInfo
from ..shared.vox import write_vox
from ..shared.voxelize import voxelize

COLLECTION_NAME = "Voxel Diffusion"
COLOR_ATTRIBUTE = "Color"
MATERIAL_NAME = "Voxel Diffusion Color"
PARAMS_KEY = "voxel_diffusion"
VOXELS_KEY = "voxel_diffusion_voxels"
GRID_KEY = "voxel_diffusion_grid"


def voxel_collection(scene: bpy.types.Scene) -> bpy.types.Collection:
    """The scene's "Voxel Diffusion" collection, created and linked on first use."""
    collection = bpy.data.collections.get(COLLECTION_NAME)
    if collection is None:
        collection = bpy.data.collections.new(COLLECTION_NAME)
    if collection.name not in scene.collection.children and collection != scene.collection:
        scene.collection.children.link(collection)
    return collection


def color_material() -> bpy.types.Material:
    """Shared material: Principled BSDF Base Color <- Attribute node reading the colour attribute.

    The Attribute node (type GEOMETRY) is read the same way by Cycles and EEVEE.
    """
    material = bpy.data.materials.get(MATERIAL_NAME)
    if material is not None:
        return material
    material = bpy.data.materials.new(MATERIAL_NAME)
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Roughness"].default_value = 0.6
    attribute = nodes.new("ShaderNodeAttribute")
    attribute.attribute_type = "GEOMETRY"
    attribute.attribute_name = COLOR_ATTRIBUTE
    attribute.location = (bsdf.location.x - 300, bsdf.location.y)
    links.new(attribute.outputs["Color"], bsdf.inputs["Base Color"])
    return material


def fill_mesh(mesh: bpy.types.Mesh, arrays: MeshArrays) -> None:
    """Replace `mesh`'s geometry and colour attribute with `arrays` in bulk (foreach_set, no per-element Python).

    Triangles (smooth style) get a POINT colour attribute and smooth shading; quads (cubes) get a
    CORNER attribute (each face's colour on its corners) and flat shading. Colours are converted
    from display sRGB to the scene-linear values FLOAT_COLOR attributes store.
    """
    mesh.clear_geometry()
    n_faces, corners = arrays.faces.shape
    mesh.vertices.add(len(arrays.vertices))
    mesh.loops.add(n_faces * corners)
    mesh.polygons.add(n_faces)
    mesh.vertices.foreach_set("co", np.ascontiguousarray(arrays.vertices, dtype=np.float32).ravel())
    mesh.loops.foreach_set("vertex_index", np.ascontiguousarray(arrays.faces, dtype=np.int32).ravel())
    mesh.polygons.foreach_set("loop_start", np.arange(0, n_faces * corners, corners, dtype=np.int32))
    mesh.update(calc_edges=True)

    if arrays.vertex_colors is not None:
        domain, colors = "POINT", arrays.vertex_colors
    else:
        domain, colors = "CORNER", np.repeat(arrays.face_colors, corners, axis=0)
    linear = np.array(colors, dtype=np.float32)
    linear[:, :3] = srgb_to_linear(linear[:, :3])
    attribute = mesh.color_attributes.new(COLOR_ATTRIBUTE, "FLOAT_COLOR", domain)
    attribute.data.foreach_set("color", linear.ravel())
    mesh.color_attributes.active_color = attribute
    mesh.color_attributes.render_color_index = mesh.color_attributes.active_color_index
    mesh.polygons.foreach_set("use_smooth", np.full(n_faces, domain == "POINT"))
    if not mesh.materials:
        mesh.materials.append(color_material())


PREVIEW_NAME = "Voxel Diffusion Preview"


def show_preview(scene: bpy.types.Scene, voxels: np.ndarray, params: GenerationParams,
                 location: Sequence[float]) -> bpy.types.Object:
    """Show (or update) the temporary preview object: a cube mesh of the low-resolution guess `voxels`
    [C, r, r, r] at the result's size and place. It is not part of the Voxel Diffusion collection, stores no
    parameters, and `remove_preview` deletes it."""
    grid = np.asarray(voxels, dtype=np.float32)
    arrays = cube_mesh(grid, min(params.alpha_threshold, 0.5), params.mesh_size)
    obj = bpy.data.objects.get(PREVIEW_NAME)
    if obj is None:
        obj = bpy.data.objects.new(PREVIEW_NAME, bpy.data.meshes.new(PREVIEW_NAME))
        obj.display_type = "SOLID"
        obj.hide_render = True
    if obj.name not in scene.collection.objects:
        scene.collection.objects.link(obj)
    fill_mesh(obj.data, arrays)
    obj.location = tuple(location)
    return obj


def remove_preview() -> None:
    """Delete the preview object and its mesh, if there is one."""
    obj = bpy.data.objects.get(PREVIEW_NAME)
    if obj is not None:
        mesh = obj.data
        bpy.data.objects.remove(obj)
        if mesh is not None and mesh.users == 0:
            bpy.data.meshes.remove(mesh)


def store_params(obj: bpy.types.Object, params: GenerationParams, model_name: str = "") -> None:
    """Record what generated `obj` (custom property `voxel_diffusion`)."""
    obj[PARAMS_KEY] = {**params.to_dict(), "model_name": model_name}


def store_voxels(obj: bpy.types.Object, voxels: np.ndarray) -> None:
    """Keep the grid [C, R, R, R] `obj`'s mesh was made from (a float32 ID property array)."""
    obj[VOXELS_KEY] = np.ascontiguousarray(voxels, dtype=np.float32).ravel()
    obj[GRID_KEY] = list(voxels.shape)


def stored_voxels(obj: bpy.types.Object | None) -> np.ndarray | None:
    """The grid stored by `store_voxels` (float32 [C, R, R, R], a copy), or None."""
    data = obj.get(VOXELS_KEY) if obj is not None else None
    shape = obj.get(GRID_KEY) if obj is not None else None
    if data is None or shape is None:
        return None
    shape = tuple(int(n) for n in shape)
    values = np.frombuffer(memoryview(data), dtype=np.float32) if getattr(data, "typecode", "") == "f" \
        else np.asarray(list(data), dtype=np.float32)
    return values.reshape(shape).copy() if values.size == int(np.prod(shape)) else None


def stored_params(obj: bpy.types.Object | None) -> GenerationParams | None:
    """The `GenerationParams` stored on a generated object, or None for other objects."""
    data = obj.get(PARAMS_KEY) if obj is not None else None
    if data is None:
        return None
    return GenerationParams.from_dict(data.to_dict() if hasattr(data, "to_dict") else dict(data))


def build_object(
    arrays: MeshArrays,
    params: GenerationParams,
    *,
    collection: bpy.types.Collection,
    location: Sequence[float] = (0.0, 0.0, 0.0),
    model_name: str = "",
    voxels: np.ndarray | None = None,
) -> bpy.types.Object:
    """Create the object "<class>_<seed>" from mesh arrays at `location` in `collection` (and keep its
    `voxels` when given)."""
    name = params.object_name()
    mesh = bpy.data.meshes.new(name)
    fill_mesh(mesh, arrays)
    obj = bpy.data.objects.new(name, mesh)
    obj.location = tuple(location)
    store_params(obj, params, model_name)
    if voxels is not None:
        store_voxels(obj, voxels)
    collection.objects.link(obj)
    return obj


def replace_geometry(obj: bpy.types.Object, arrays: MeshArrays, params: GenerationParams, model_name: str = "",
                     voxels: np.ndarray | None = None) -> None:
    """Regenerate in place: new geometry, stored params and voxels; transform, name and material slots kept."""
    old = obj.data
    mesh = bpy.data.meshes.new(params.object_name())
    fill_mesh(mesh, arrays)
    obj.data = mesh
    store_params(obj, params, model_name)
    if voxels is not None:
        store_voxels(obj, voxels)
    if old.users == 0:
        bpy.data.meshes.remove(old)


def row_locations(origin: Sequence[float], count: int, spacing: float) -> list[tuple[float, float, float]]:
    """`count` positions along +x starting at `origin` (variations side by side)."""
    x, y, z = origin
    return [(x + i * spacing, y, z) for i in range(count)]


def beside(bounds, mesh_size: float, gap: float = 0.25) -> tuple[float, float, float]:
    """Where a generated object goes next to world-space `bounds` (min, max): on +x with `gap` x mesh_size
    between them, centred on it in y, standing on its lowest point."""
    (x0, y0, z0), (x1, y1, _) = bounds
    return (x1 + (gap + 0.5) * mesh_size, (y0 + y1) / 2, z0)


def export_vox(path: str | Path, voxels: np.ndarray, params: GenerationParams, palette: str = "") -> Path:
    """Write an object's voxels as .vox (those at or above its alpha threshold). `palette` (as
    GenerationParams.palette): "" keeps the colours (at most 255, else a median cut); otherwise they are
    snapped first, flat per part, and the file's palette is the snap's. Returns the absolute path."""
    kwargs = palette_kwargs(palette)
    colours = None
    if kwargs and voxels.shape[0] == 4:
        voxels, colours = snap_to_palette(voxels, params.alpha_threshold, **kwargs)
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_vox(path, voxels, params.alpha_threshold, palette=colours if colours is not None and len(colours) else None)
    return path


def commit_results(
    results: Sequence[GeneratedObject],
    scene: bpy.types.Scene,
    location: Sequence[float] = (0.0, 0.0, 0.0),
    *,
    replace: bpy.types.Object | None = None,
    pick: int = 0,
    model_name: str = "",
    collection: bpy.types.Collection | None = None,
) -> list[bpy.types.Object]:
    """Put generated meshes into the scene: into `replace` (result `pick`, e.g. a blend's in-between:
    regenerate in place) or as new objects in a row along +x from `location`, spaced by 1.25 x their size."""
    if replace is not None:
        params, arrays, voxels = results[min(pick, len(results) - 1)]
        replace_geometry(replace, arrays, params, model_name, voxels)
        return [replace]
    collection = collection or voxel_collection(scene)
    spacing = 1.25 * max((r.params.mesh_size for r in results), default=1.0)
    return [
        build_object(r.mesh, r.params, collection=collection, location=loc, model_name=model_name, voxels=r.voxels)
        for r, loc in zip(results, row_locations(location, len(results), spacing))
    ]


def undo_push(message: str) -> None:
    """One undo step for what was just built (nothing without a window: `blender -b`, the bpy module)."""
    wm = bpy.context.window_manager
    windows = list(wm.windows) if wm is not None else []
    if not windows:
        return
    with bpy.context.temp_override(window=windows[0]):
        bpy.ops.ed.undo_push(message=message)


GEOMETRY_TYPES = ("MESH", "CURVE", "SURFACE", "FONT", "META")


@dataclass(frozen=True)
class SourceMesh:
    """An object's evaluated geometry, ready for `voxelize.voxelize`: world-space vertices [V, 3], triangles
    [T, 3], and display (sRGB) colours: vertex_colors [V, 3] or face_colors [T, 3] (one per triangle), or
    neither (voxelize's grey). `bounds`: its world-space (min xyz, max xyz)."""

    vertices: np.ndarray
    triangles: np.ndarray
    vertex_colors: np.ndarray | None
    face_colors: np.ndarray | None
    bounds: tuple[tuple[float, float, float], tuple[float, float, float]]

    def start_grid(self, model: ModelInfo) -> StartGrid:
        """Voxelised at `model`'s grid, placed like its training objects (voxelize fit="object"). numpy only:
        jobs call it on their worker thread once the server's info is in."""
        grid = voxelize(self.vertices, self.triangles, model.resolution, vertex_colors=self.vertex_colors,
                        face_colors=self.face_colors)
        return StartGrid(grid if model.channels == 4 else grid[3:])


def source_mesh(obj: bpy.types.Object | None, depsgraph=None) -> SourceMesh:
    """Read `obj`'s evaluated mesh (modifiers applied) in world space, triangulated (loop triangles).

    World space: the model sees what the viewport shows (z up is the gravity axis its training objects
    stand on; rotations and mirror transforms count; scale does not matter, voxelize fits the size).
    Colours: the active colour attribute when there is one (per vertex, or per corner averaged over each
    triangle); else each triangle's material: its Principled BSDF Base Color (else the material's viewport
    colour); else none (grey). Raises ValueError for a missing or non-geometry object or an empty mesh."""
    if obj is None:
        raise ValueError("select a mesh object to start from")
    if obj.type not in GEOMETRY_TYPES:
        article = "an" if obj.type[0] in "AEIOU" else "a"
        raise ValueError(f"{obj.name} is {article} {obj.type.lower()} object: start from a mesh (or a curve, text or surface)")
    depsgraph = depsgraph or bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        if mesh is None or len(mesh.vertices) == 0 or len(mesh.polygons) == 0:
            raise ValueError(f"{obj.name} has no faces: nothing to voxelise")
        mesh.calc_loop_triangles()
        n_v, n_t = len(mesh.vertices), len(mesh.loop_triangles)
        co = np.empty(n_v * 3, np.float32)
        mesh.vertices.foreach_get("co", co)
        matrix = np.array(evaluated.matrix_world, dtype=np.float64)
        vertices = co.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]
        triangles = np.empty(n_t * 3, np.int32)
        mesh.loop_triangles.foreach_get("vertices", triangles)
        triangles = triangles.reshape(-1, 3)
        vertex_colors, face_colors = _source_colors(evaluated, mesh, n_v, n_t)
    finally:
        evaluated.to_mesh_clear()
    used = vertices[np.unique(triangles)]
    bounds = (tuple(used.min(0).tolist()), tuple(used.max(0).tolist()))
    return SourceMesh(vertices, triangles, vertex_colors, face_colors, bounds)


def _source_colors(obj, mesh, n_vertices: int, n_triangles: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    attribute = mesh.color_attributes.active_color
    if attribute is not None and attribute.domain in ("POINT", "CORNER"):
        n = n_vertices if attribute.domain == "POINT" else len(mesh.loops)
        values = np.empty(n * 4, np.float32)
        attribute.data.foreach_get("color", values)
        rgb = linear_to_srgb(values.reshape(-1, 4)[:, :3])
        if attribute.domain == "POINT":
            return rgb, None
        loops = np.empty(n_triangles * 3, np.int32)
        mesh.loop_triangles.foreach_get("loops", loops)
        return None, rgb[loops.reshape(-1, 3)].mean(axis=1)
    slots = [_material_rgb(slot.material) for slot in obj.material_slots]
    if not any(c is not None for c in slots):
        return None, None
    grey = np.array(MASK_DEFAULT_RGB, np.float32)
    table = np.stack([grey if c is None else c for c in slots])
    index = np.empty(n_triangles, np.int32)
    mesh.loop_triangles.foreach_get("material_index", index)
    return None, table[np.clip(index, 0, len(table) - 1)]


def _material_rgb(material) -> np.ndarray | None:
    """A material's display colour: its Principled BSDF's Base Color (unlinked value), else diffuse_color."""
    if material is None:
        return None
    tree = material.node_tree if material.use_nodes or bpy.app.version >= (5, 0, 0) else None
    bsdf = next((n for n in tree.nodes if n.type == "BSDF_PRINCIPLED"), None) if tree is not None else None
    linear = bsdf.inputs["Base Color"].default_value if bsdf is not None else material.diffuse_color
    return linear_to_srgb(np.array(linear[:3], np.float32))


def region_of(obj, voxels: np.ndarray, params: GenerationParams, box) -> tuple[int, ...]:
    """A region of `obj`'s grid (`voxels`), given as six voxel indices (returned as they are: region_box checks
    them) or as a helper object: the voxels whose centres lie inside its world-space bounding box (an
    empty's: its display cube), mapped into `obj`'s mesh frame (meshing.lattice_offset)."""
    resolution = voxels.shape[1]
    if not isinstance(box, bpy.types.Object):
        return tuple(box)
    if box == obj:
        raise ValueError("the region helper must be another object (an empty or a cube over the part)")
    if box.type == "EMPTY":  # no geometry: its display cube, corners at +-display size
        local_corners = [(2 * np.array(c) - 1) * box.empty_display_size for c in np.ndindex(2, 2, 2)]
    else:
        local_corners = list(box.bound_box)
    corners = np.array([tuple(box.matrix_world @ Vector(tuple(c))) for c in local_corners], dtype=np.float64)
    inverse = np.array(obj.matrix_world.inverted(), dtype=np.float64)
    local = corners @ inverse[:3, :3].T + inverse[:3, 3]
    offset = lattice_offset(voxels, params.alpha_threshold, params.mesh_style)
    lattice = local * (resolution / params.mesh_size) + offset
    return box_from_bounds(lattice.min(0), lattice.max(0), resolution)
