"""Mesh extraction from voxel grids (numpy + scikit-image, no Blender)."""
from collections import Counter

import numpy as np
import pytest

from blender_addon.shared.colors import MASK_DEFAULT_RGB, srgb_to_linear
from blender_addon.shared.meshing import cube_mesh, smooth_mesh


def _grid(r: int, cells: dict[tuple[int, int, int], tuple[float, float, float]]) -> np.ndarray:
    vox = np.zeros((4, r, r, r), np.float32)
    for (i, j, k), rgb in cells.items():
        vox[:3, i, j, k] = rgb
        vox[3, i, j, k] = 1.0
    return vox


def _sphere(r: int = 48, radius: float = 18.0) -> np.ndarray:
    centres = np.indices((r, r, r)).astype(np.float32) + 0.5
    dist = np.sqrt(((centres - r / 2) ** 2).sum(0))
    vox = np.zeros((4, r, r, r), np.float32)
    vox[3] = np.clip(radius + 0.5 - dist, 0.0, 1.0)  # alpha crosses 0.5 at dist = radius
    vox[:3] = np.where(vox[3] >= 0.5, np.array([0.9, 0.3, 0.1])[:, None, None, None], 0.0)
    return vox


def _triangles(faces: np.ndarray) -> np.ndarray:
    if faces.shape[1] == 3:
        return faces
    return np.concatenate([faces[:, [0, 1, 2]], faces[:, [0, 2, 3]]])


def _edge_counts(faces: np.ndarray) -> Counter:
    edges = np.stack([faces, np.roll(faces, -1, axis=1)], axis=2).reshape(-1, 2)
    return Counter(map(tuple, np.sort(edges, axis=1).tolist()))


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    v = vertices.astype(np.float64)
    t = _triangles(faces)
    return float(np.einsum("ij,ij->i", v[t[:, 0]], np.cross(v[t[:, 1]], v[t[:, 2]])).sum() / 6)


def _area(vertices: np.ndarray, faces: np.ndarray) -> float:
    v = vertices.astype(np.float64)
    t = _triangles(faces)
    return float(np.linalg.norm(np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]), axis=1).sum() / 2)


def test_single_voxel_is_a_closed_outward_cube():
    mesh = cube_mesh(_grid(3, {(1, 1, 1): (1.0, 0.0, 0.0)}), size=3.0)
    assert mesh.faces.shape == (6, 4) and mesh.vertices.shape == (8, 3)
    assert mesh.faces.dtype == np.int32 and mesh.vertices.dtype == np.float32
    assert _signed_volume(mesh.vertices, mesh.faces) == pytest.approx(1.0)
    assert all(count == 2 for count in _edge_counts(mesh.faces).values())


def test_two_touching_voxels_share_their_face():
    mesh = cube_mesh(_grid(4, {(1, 1, 1): (1, 0, 0), (2, 1, 1): (0, 0, 1)}))
    assert mesh.faces.shape == (10, 4) and mesh.vertices.shape == (12, 3)
    assert all(count == 2 for count in _edge_counts(mesh.faces).values())


def test_face_colours_match_their_voxel():
    red, blue = (1.0, 0.0, 0.0), (0.0, 0.2, 1.0)
    mesh = cube_mesh(_grid(4, {(1, 1, 1): red, (2, 1, 1): blue}), size=4.0)
    centres_x = mesh.vertices[mesh.faces].mean(axis=1)[:, 0]  # voxel 1 spans x in [-1, 0], voxel 2 [0, 1]
    assert not np.any(centres_x == 0.0), "the shared face must be removed"
    expected = np.where(centres_x[:, None] < 0, red, blue)
    np.testing.assert_allclose(mesh.face_colors[:, :3], expected)
    np.testing.assert_allclose(mesh.face_colors[:, 3], 1.0)


def test_threshold_is_respected():
    vox = _grid(4, {(1, 1, 1): (1, 1, 1), (2, 2, 2): (1, 1, 1)})
    vox[3, 2, 2, 2] = 0.5
    assert len(cube_mesh(vox, threshold=0.9).faces) == 6
    assert len(cube_mesh(vox, threshold=0.5).faces) == 12
    assert cube_mesh(vox, threshold=1.01).is_empty
    assert smooth_mesh(vox, threshold=1.01).is_empty


def test_object_frame_is_centred_on_xy_with_bottom_at_zero():
    mesh = cube_mesh(_grid(8, {(0, 0, 3): (1, 1, 1), (7, 7, 5): (1, 1, 1)}), size=2.0)
    np.testing.assert_allclose(mesh.vertices.min(axis=0), [-1.0, -1.0, 0.0])
    np.testing.assert_allclose(mesh.vertices.max(axis=0), [1.0, 1.0, 0.75])


def test_mask_only_grid_gets_the_default_colour():
    vox = _grid(3, {(1, 1, 1): (0, 0, 0)})[3:]
    mesh = cube_mesh(vox)
    np.testing.assert_allclose(mesh.face_colors[:, :3], np.tile(MASK_DEFAULT_RGB, (6, 1)))


def test_smooth_sphere_is_watertight_with_the_right_area():
    radius, size = 18.0, 48.0  # size = grid side: one lattice unit per voxel
    mesh = smooth_mesh(_sphere(48, radius), threshold=0.5, size=size)
    assert mesh.faces.shape[1] == 3 and mesh.faces.dtype == np.int32
    counts = _edge_counts(mesh.faces)
    assert counts and all(c == 2 for c in counts.values()), "every edge must be shared by two triangles"
    assert _area(mesh.vertices, mesh.faces) == pytest.approx(4 * np.pi * radius**2, rel=0.03)
    assert _signed_volume(mesh.vertices, mesh.faces) == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.03)
    assert mesh.vertices[:, 2].min() == pytest.approx(0.0)


def test_smooth_surface_colour_does_not_darken_toward_empty_space():
    mesh = smooth_mesh(_sphere(24, 8.0), threshold=0.5)
    np.testing.assert_allclose(mesh.vertex_colors, np.tile([0.9, 0.3, 0.1, 1.0], (len(mesh.vertex_colors), 1)), atol=1e-5)


def test_smooth_mesh_closes_at_the_grid_boundary():
    vox = np.ones((4, 4, 4, 4), np.float32)  # full grid: the padding closes the surface
    mesh = smooth_mesh(vox)
    assert all(c == 2 for c in _edge_counts(mesh.faces).values())
    assert _signed_volume(mesh.vertices, mesh.faces) > 0


def test_srgb_to_linear_known_values():
    np.testing.assert_allclose(srgb_to_linear(np.array([0.0, 0.5, 1.0])), [0.0, 0.21404, 1.0], atol=1e-4)


@pytest.mark.parametrize("threshold", [1.0, 0.0, 1.5])
def test_smooth_mesh_level_outside_the_alpha_range_is_empty(threshold):
    vox = np.zeros((4, 6, 6, 6), np.float32)
    vox[:, 2:4, 2:4, 2:4] = 1.0  # alpha reaches exactly 1.0: no surface crosses level 1.0
    mesh = smooth_mesh(vox, threshold=threshold)
    assert mesh.is_empty and mesh.vertices.shape == (0, 3) and mesh.faces.shape == (0, 3)
    assert mesh.vertex_colors.shape == (0, 4)
    assert (mesh.vertices.dtype, mesh.faces.dtype, mesh.vertex_colors.dtype) == (np.float32, np.int32, np.float32)
    assert not smooth_mesh(vox, threshold=0.5).is_empty
