"""Server test fixtures: a tiny random checkpoint (no training) and servers on free loopback ports."""
from __future__ import annotations

from pathlib import Path

import pytest

from blender_addon.shared.protocol import Limits
from tests.tiny_models import save_tiny_checkpoint

REPO = Path(__file__).resolve().parents[2]
CLASS_NAMES = ("chair", "table", "lamp")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained 8^3 class-conditional UNet3D (a few thousand weights) saved as a checkpoint."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors", CLASS_NAMES)


@pytest.fixture(scope="session")
def generator(tiny_checkpoint):
    from diffusion_core.pipeline import VoxelGenerator

    return VoxelGenerator.from_checkpoint(tiny_checkpoint)


@pytest.fixture
def make_server(generator):
    """Start in-thread servers on free ports: make_server(**ServerConfig overrides) -> VoxelServer."""
    from server.app import ServerConfig, VoxelServer

    started = []

    def make(**overrides):
        overrides = {"host": "127.0.0.1", "limits": Limits(max_count=8, max_steps=1000, max_queue=8), **overrides}
        server = VoxelServer(generator, ServerConfig(port=0, **overrides))
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])
