"""Turning generated voxel grids into what a request asked for (shared by the server and `generate`)."""
from __future__ import annotations

import numpy as np

from blender_addon.shared import meshing
from blender_addon.shared.protocol import GenerateRequest, GenerateResult, MeshData
from diffusion_core.joining import join_parts

PREVIEW_MAX_RESOLUTION = 16


def mesh_data(voxels: np.ndarray, style: str, threshold: float, size: float) -> MeshData:
    """One grid float32 [C, R, R, R] -> MeshData (smooth: triangles + vertex colours; cubes: quads +
    face colours)."""
    if style == "smooth":
        m = meshing.smooth_mesh(voxels, threshold, size)
        colors, domain = m.vertex_colors, "vertex"
    else:
        m = meshing.cube_mesh(voxels, threshold, size)
        colors, domain = m.face_colors, "face"
    return MeshData(
        vertices=np.asarray(m.vertices, np.float32).reshape(-1, 3),
        faces=np.asarray(m.faces, np.int32).reshape(-1, 4 if style == "cubes" else 3),
        colors=np.asarray(colors, np.float32).reshape(-1, 4),
        color_domain=domain,
    )


def build_result(voxels: np.ndarray, request: GenerateRequest, class_name: str) -> GenerateResult:
    """voxels float32 [N, C, R, R, R] in [0, 1] (N = request.count) -> the requested outputs (with the
    request's join_parts, each object's broken pieces joined and its specks removed first; inside the request's
    region only)."""
    if request.join_parts:
        voxels = join_parts(voxels, request.alpha_threshold, allowed=request.region)
    meshes = ()
    if "mesh" in request.outputs:
        meshes = tuple(mesh_data(v, request.mesh_style, request.alpha_threshold, request.mesh_size) for v in voxels)
    return GenerateResult(
        class_name=class_name,
        seeds=tuple(request.seeds),
        voxels=np.ascontiguousarray(voxels, np.float32) if "voxels" in request.outputs else None,
        meshes=meshes,
    )


def result_nbytes(result: GenerateResult) -> int:
    arrays = [] if result.voxels is None else [result.voxels]
    arrays += [a for m in result.meshes for a in (m.vertices, m.faces, m.colors)]
    return sum(a.nbytes for a in arrays)


def preview(voxels: np.ndarray) -> np.ndarray:
    """float32 [N, C, R, R, R] -> float16 [N, C, r, r, r], r <= 16, by block averaging."""
    r = voxels.shape[-1]
    f = -(-r // PREVIEW_MAX_RESOLUTION)
    while r % f:
        f += 1
    n, c = voxels.shape[:2]
    blocks = voxels.reshape(n, c, r // f, f, r // f, f, r // f, f)
    return blocks.mean(axis=(3, 5, 7)).astype(np.float16)
