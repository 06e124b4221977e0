"""Server test fixtures: a tiny random checkpoint (no training) and servers on free loopback ports."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from blender_addon.protocol import Limits

REPO = Path(__file__).resolve().parents[2]
CLASS_NAMES = ("chair", "table", "lamp")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained 8^3 class-conditional UNet3D (a few thousand weights) saved as a checkpoint."""
    import torch

    from diffusion_core.checkpoint import save_checkpoint
    from diffusion_core.diffusion import DiffusionConfig
    from diffusion_core.unet import UNet3D, UNetConfig

    torch.manual_seed(0)
    unet = UNetConfig(resolution=8, base_channels=8, channel_mults=(1, 2), attention_resolutions=(),
                      num_classes=len(CLASS_NAMES), norm_groups=4)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, model_state=UNet3D(unet).state_dict(), class_names=CLASS_NAMES, step=0,
                    config={"unet": asdict(unet), "diffusion": asdict(DiffusionConfig(num_timesteps=1000)), "data": {}})
    return path


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
        overrides.setdefault("limits", Limits(max_count=8, max_steps=1000, max_queue=8))
        server = VoxelServer(generator, ServerConfig(host="127.0.0.1", port=0, **overrides))
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


class ServerProcess:
    """`python -m server serve` as a subprocess, waited on until its READY line."""

    def __init__(self, args: list[str], timeout_s: float = 60.0):
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "server", "serve", *args], cwd=REPO, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout_s
        self.lines: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if m := re.match(r"READY (tcp://\S+)", line):
                self.address, self.port = m.group(1), port_of(m.group(1))
                return
        self.proc.kill()
        raise RuntimeError("server did not become ready:\n" + "".join(self.lines))

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout_s)
        self.lines += self.proc.stdout.readlines()
        return rc
