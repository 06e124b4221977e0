"""The server's contract with the core: VoxelGenerator is a server.contract.Generator, and so is a fake."""
from __future__ import annotations

import numpy as np

from blender_addon.shared import protocol as p
from blender_addon.shared.client import VoxelClient
from diffusion_core.pipeline import VoxelGenerator
from server.app import ServerConfig, VoxelServer
from server.contract import Generator
from tests.server.conftest import port_of


class _OneVoxelModel:
    """The smallest Generator: every object is one opaque voxel; each step reports its index."""

    model_name, class_names, resolution, channels, max_steps = "fake", ["dot"], 2, 4, 10

    def generate_progressive(self, labels, seeds, steps, sampler, eta, guidance, edit=None):
        for i in range(steps):
            yield type("Step", (), {"index": i, "total": steps, "x_t": len(labels), "pred_x0": len(labels)})

    def to_voxels(self, x, edit=None):
        voxels = np.zeros((x, 4, 2, 2, 2), np.float32)
        voxels[:, :, 0, 0, 0] = 1.0
        return voxels

    def generate(self, labels, seeds, steps, sampler, eta, guidance, edit=None):
        *_, last = self.generate_progressive(labels, seeds, steps, sampler, eta, guidance, edit)
        return self.to_voxels(last.x_t, edit)


def test_the_core_generator_and_a_fake_both_satisfy_the_contract(generator):
    assert isinstance(generator, VoxelGenerator) and isinstance(generator, Generator)
    assert generator.max_steps == generator.diffusion.num_timesteps
    assert isinstance(_OneVoxelModel(), Generator)
    assert not isinstance(object(), Generator)


def test_the_server_runs_a_fake_generator():
    server = VoxelServer(_OneVoxelModel(), ServerConfig(host="127.0.0.1", port=0, warmup_steps=1))
    server.start()
    try:
        with VoxelClient("127.0.0.1", port_of(server.address), timeout_s=5) as client:
            result = client.submit(p.GenerateRequest(steps=3, count=2)).result(timeout_s=30)
    finally:
        server.stop()
    assert result.voxels.shape == (2, 4, 2, 2, 2) and result.class_name == "dot"
    assert np.all(result.voxels[:, :, 0, 0, 0] == 1.0) and result.voxels.sum() == 2 * 4
