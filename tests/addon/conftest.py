"""Fixtures for add-on tests: the built zip, a real model server, and a runner for Blender scenarios."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).with_name("blender_scenarios.py")
CLASS_NAMES = ("chair", "table", "lamp")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained 8^3 class-conditional UNet3D saved as a checkpoint (no training needed)."""
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
def server_port(tiny_checkpoint) -> int:
    """`python -m server serve` on a free loopback port; waits for its READY line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--checkpoint", str(tiny_checkpoint), "--port", "0", "--threads", "1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 120
    line = ""
    while time.monotonic() < deadline and not line.startswith("READY"):
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}")
    assert line.startswith("READY"), "server did not get ready"
    yield int(line.split()[1].rsplit(":", 1)[1])
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:  # reported to the server owner: stop() can hang after clients left
        proc.kill()
        proc.wait()


@pytest.fixture
def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def addon_zip(tmp_path_factory) -> Path:
    import build_addon

    (path,) = build_addon.build(tmp_path_factory.mktemp("dist"))
    return path


@pytest.fixture
def run_in_blender(tmp_path):
    """run_in_blender(scenario, **kwargs): one fresh bpy process with an isolated user folder."""

    def run(scenario: str, timeout_s: float = 180, **kwargs) -> str:
        env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "blender_user"), "PYTHONPATH": str(REPO)}
        proc = subprocess.run([sys.executable, str(SCENARIOS), scenario, json.dumps(kwargs)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout_s)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0 and "SCENARIO OK" in proc.stdout, output
        return output

    return run
