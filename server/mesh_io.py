"""Mesh files with colours: binary little-endian PLY and OBJ (with the common `v x y z r g b` extension).

Both take a protocol MeshData. Face colours (cube meshes) become vertex colours by giving every face
its own corners, since vertex colours are what importers (Blender's included) read.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from blender_addon.shared.protocol import MeshData


def per_vertex_colors(mesh: MeshData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (vertices float32 [V', 3], faces int32 [F, K], colors float32 [V', 4])."""
    if mesh.color_domain == "vertex":
        return mesh.vertices, mesh.faces, mesh.colors
    k = mesh.faces.shape[1]
    vertices = mesh.vertices[mesh.faces.reshape(-1)]
    colors = np.repeat(mesh.colors, k, axis=0)
    faces = np.arange(len(vertices), dtype=np.int32).reshape(-1, k)
    return vertices, faces, colors


def write_ply(path: Path, mesh: MeshData) -> None:
    vertices, faces, colors = per_vertex_colors(mesh)
    k = faces.shape[1]
    vdt = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1"), ("a", "u1")])
    vrec = np.empty(len(vertices), vdt)
    for i, name in enumerate("xyz"):
        vrec[name] = vertices[:, i]
    rgba = np.clip(np.rint(colors * 255), 0, 255).astype(np.uint8)
    for i, name in enumerate("rgba"):
        vrec[name] = rgba[:, i]
    frec = np.empty(len(faces), np.dtype([("n", "u1"), ("idx", "<i4", (k,))]))
    frec["n"], frec["idx"] = k, faces
    header = ("ply\nformat binary_little_endian 1.0\ncomment Voxel Diffusion\n"
              f"element vertex {len(vrec)}\nproperty float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n"
              f"element face {len(frec)}\nproperty list uchar int vertex_indices\nend_header\n")
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(vrec.tobytes())
        f.write(frec.tobytes())


def write_obj(path: Path, mesh: MeshData) -> None:
    vertices, faces, colors = per_vertex_colors(mesh)
    with open(path, "w") as f:
        f.write("# Voxel Diffusion (vertex colours as v x y z r g b)\n")
        np.savetxt(f, np.hstack([vertices, colors[:, :3]]), fmt="v %.6f %.6f %.6f %.4f %.4f %.4f")
        np.savetxt(f, faces + 1, fmt="f" + " %d" * faces.shape[1])


WRITERS = {"ply": write_ply, "obj": write_obj}
