"""The server's contract with the core: VoxelGenerator is a server.contract.Generator, and so is a fake."""
from __future__ import annotations

import numpy as np

from blender_addon.shared import protocol as p
from blender_addon.shared.client import VoxelClient
from diffusion_core.pipeline import VoxelGenerator
from server.app import ServerConfig, VoxelServer
from server.contract import Generator
from tests.server.conftest import port_of
from tests.server.fakes import FixedGridModel


def one_voxel_model() -> FixedGridModel:
    """The smallest Generator: every object is one opaque voxel in a 2^3 grid."""
    grid = np.zeros((4, 2, 2, 2), np.float32)
    grid[:, 0, 0, 0] = 1.0
    return FixedGridModel(grid, "fake", "dot")


def test_the_core_generator_and_a_fake_both_satisfy_the_contract(generator):
    assert isinstance(generator, VoxelGenerator) and isinstance(generator, Generator)
    assert generator.max_steps == generator.diffusion.num_timesteps
    assert isinstance(one_voxel_model(), Generator)
    assert not isinstance(object(), Generator)


def test_the_server_runs_a_fake_generator():
    server = VoxelServer(one_voxel_model(), ServerConfig(host="127.0.0.1", port=0, warmup_steps=1))
    server.start()
    try:
        with VoxelClient("127.0.0.1", port_of(server.address), timeout_s=5) as client:
            result = client.submit(p.GenerateRequest(steps=3, count=2)).result(timeout_s=30)
    finally:
        server.stop()
    assert result.voxels.shape == (2, 4, 2, 2, 2) and result.class_name == "dot"
    assert np.all(result.voxels[:, :, 0, 0, 0] == 1.0) and result.voxels.sum() == 2 * 4
