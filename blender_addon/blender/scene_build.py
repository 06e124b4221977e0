"""Mesh arrays -> Blender objects: bulk mesh upload, colour attribute, shared material, stored params.

Main thread only (bpy). Objects are named "<class>_<seed>", linked into the "Voxel Diffusion"
collection, and carry their `GenerationParams` in the custom property `voxel_diffusion`, so
Regenerate and Variation work from any generated object, with or without the add-on registered.
"""
from __future__ import annotations

from collections.abc import Sequence

import bpy
import numpy as np

from ..shared.colors import srgb_to_linear
from ..shared.generation import GenerationParams
from ..shared.meshing import MeshArrays

COLLECTION_NAME = "Voxel Diffusion"
COLOR_ATTRIBUTE = "Color"
MATERIAL_NAME = "Voxel Diffusion Color"
PARAMS_KEY = "voxel_diffusion"


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


def store_params(obj: bpy.types.Object, params: GenerationParams, model_name: str = "") -> None:
    """Record what generated `obj` (custom property `voxel_diffusion`)."""
    obj[PARAMS_KEY] = {**params.to_dict(), "model_name": model_name}


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
) -> bpy.types.Object:
    """Create the object "<class>_<seed>" from mesh arrays at `location` in `collection`."""
    name = params.object_name()
    mesh = bpy.data.meshes.new(name)
    fill_mesh(mesh, arrays)
    obj = bpy.data.objects.new(name, mesh)
    obj.location = tuple(location)
    store_params(obj, params, model_name)
    collection.objects.link(obj)
    return obj


def replace_geometry(obj: bpy.types.Object, arrays: MeshArrays, params: GenerationParams, model_name: str = "") -> None:
    """Regenerate in place: new geometry and stored params; transform, name and material slots kept."""
    old = obj.data
    mesh = bpy.data.meshes.new(params.object_name())
    fill_mesh(mesh, arrays)
    obj.data = mesh
    store_params(obj, params, model_name)
    if old.users == 0:
        bpy.data.meshes.remove(old)


def row_locations(origin: Sequence[float], count: int, spacing: float) -> list[tuple[float, float, float]]:
    """`count` positions along +x starting at `origin` (variations side by side)."""
    x, y, z = origin
    return [(x + i * spacing, y, z) for i in range(count)]


def commit_results(
    results: Sequence[tuple[GenerationParams, MeshArrays]],
    scene: bpy.types.Scene,
    location: Sequence[float] = (0.0, 0.0, 0.0),
    *,
    replace: bpy.types.Object | None = None,
    model_name: str = "",
    collection: bpy.types.Collection | None = None,
) -> list[bpy.types.Object]:
    """Put generated meshes into the scene: into `replace` (first result, regenerate in place) or as
    new objects in a row along +x from `location`, spaced by 1.25 x their size."""
    if replace is not None:
        params, arrays = results[0]
        replace_geometry(replace, arrays, params, model_name)
        return [replace]
    collection = collection or voxel_collection(scene)
    spacing = 1.25 * max((p.mesh_size for p, _ in results), default=1.0)
    return [
        build_object(arrays, params, collection=collection, location=loc, model_name=model_name)
        for (params, arrays), loc in zip(results, row_locations(location, len(results), spacing))
    ]
