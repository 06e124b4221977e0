"""Fixtures for add-on tests: the built zip, a real model server, and a runner for Blender scenarios."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from server.launch import ServerProcess
from tests.tiny_models import save_tiny_checkpoint

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).with_name("blender_scenarios.py")
CLASS_NAMES = ("chair", "table", "lamp")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained 8^3 class-conditional UNet3D saved as a checkpoint (no training needed)."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors", CLASS_NAMES)


@pytest.fixture(scope="session")
def server_port(tiny_checkpoint) -> int:
    """`python -m server serve` on a free loopback port, ready to answer."""
    with ServerProcess(tiny_checkpoint) as server:
        yield server.port


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
