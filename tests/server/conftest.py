"""Server test fixtures: a tiny random checkpoint (no training) and servers on free loopback ports."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
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


@contextlib.contextmanager
def serving(generators: Sequence) -> Iterator:
    """An in-thread VoxelServer of `generators` (the first the default) on a free loopback port, one warm-up
    step, stopped on exit."""
    from server.app import ServerConfig, VoxelServer

    server = VoxelServer(list(generators), ServerConfig(host="127.0.0.1", port=0, warmup_steps=1))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def client_of(server):
    """A VoxelClient of an in-thread server (5 s timeout)."""
    from blender_addon.shared.client import VoxelClient

    return VoxelClient("127.0.0.1", port_of(server.address), timeout_s=5)


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])
