"""The server joins broken objects and removes specks by default (protocol 1.5 `join_parts`), inside an inpainting
region only, and leaves them apart when asked."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from blender_addon.shared import protocol as p
from blender_addon.shared.client import VoxelClient
from server.app import ServerConfig, VoxelServer
from server.results import build_result
from tests.server.conftest import port_of
from tests.server.fakes import FixedGridModel


def broken_leg() -> np.ndarray:
    """RGBA [4, 8, 8, 8]: a slab on a leg whose middle voxel's alpha (0.6) is under the 0.9 threshold."""
    v = np.zeros((4, 8, 8, 8), np.float32)
    v[:3] = 0.4
    v[3, 1:7, 1:7, 6] = 1.0
    v[3, 3, 3, 1:6] = 1.0
    v[3, 3, 3, 3] = 0.6
    return v


def pieces(voxels: np.ndarray, threshold: float = 0.9) -> int:
    return ndimage.label(voxels[3] >= threshold, ndimage.generate_binary_structure(3, 1))[1]


def test_results_are_joined_by_default_and_the_mesh_follows():
    raw = broken_leg()[None]
    joined = build_result(raw, p.GenerateRequest(outputs=("voxels", "mesh"), mesh_style="cubes"), "stool")
    apart = build_result(raw, p.GenerateRequest(outputs=("voxels", "mesh"), mesh_style="cubes", join_parts=False),
                         "stool")
    assert pieces(raw[0]) == 2 and pieces(joined.voxels[0]) == 1
    np.testing.assert_array_equal(apart.voxels, raw)
    assert len(joined.meshes[0].faces) != len(apart.meshes[0].faces)  # the mesh is built from the joined voxels
    assert joined.voxels[0, 3, 3, 3, 3] == np.float32(0.9)


def test_a_floating_speck_is_removed_by_default_and_kept_when_asked():
    raw = np.zeros((1, 4, 16, 16, 16), np.float32)
    raw[0, :3] = 0.4
    raw[0, 3, 2:8, 2:8, 0:4] = 1.0  # the object
    raw[0, 3, 12, 12, 12] = 1.0  # a speck no confident path reaches (speck_size(16) = 2 voxels)
    joined = build_result(raw, p.GenerateRequest(), "cube").voxels[0]
    apart = build_result(raw, p.GenerateRequest(join_parts=False), "cube").voxels[0]
    assert pieces(joined) == 1 and joined[3, 12, 12, 12] == 0 and (joined[3, 2:8, 2:8, 0:4] == 1).all()
    np.testing.assert_array_equal(apart, raw[0])


def test_a_region_edit_joins_only_inside_the_region():
    raw = broken_leg()
    region = np.zeros(raw.shape[1:], bool)
    region[:, :, 6:] = True  # the slab's layer: the gap at z = 3 is outside
    request = p.GenerateRequest(init=raw, strength=0.5, region=region)
    assert pieces(build_result(raw[None], request, "stool").voxels[0]) == 2
    region[:, :, 3] = True
    request = p.GenerateRequest(init=raw, strength=0.5, region=region)
    assert pieces(build_result(raw[None], request, "stool").voxels[0]) == 1


def test_the_server_joins_unless_the_request_says_not_to():
    server = VoxelServer(FixedGridModel(broken_leg(), "broken", "stool"), ServerConfig(host="127.0.0.1", port=0, warmup_steps=1))
    server.start()
    try:
        with VoxelClient("127.0.0.1", port_of(server.address), timeout_s=5) as client:
            joined = client.submit(p.GenerateRequest(steps=2)).result(timeout_s=30)
            apart = client.submit(p.GenerateRequest(steps=2, join_parts=False)).result(timeout_s=30)
    finally:
        server.stop()
    assert pieces(joined.voxels[0]) == 1 and pieces(apart.voxels[0]) == 2
