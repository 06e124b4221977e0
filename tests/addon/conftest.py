"""Fixtures for add-on tests: the built zips, a real model server, each real Blender, and a runner for
Blender scenarios in it."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from blender_addon.shared.server_process import LocalServer
from server.launch import ServerProcess
from tests.addon.blenders import BLENDERS, REPO, Blender
from tests.tiny_models import save_tiny_checkpoint

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


@pytest.fixture(scope="session")
def two_model_port(tiny_checkpoint, tmp_path_factory) -> int:
    """A server of two models: `tiny` (the default, 8^3: chair, table, lamp) and `props` (16^3: crate, barrel; it
    takes a colour)."""
    folder = tmp_path_factory.mktemp("two_models")
    props = save_tiny_checkpoint(folder / "props.safetensors", ("crate", "barrel"), resolution=16, perturb=True,
                                 hue_conditional=True)
    server = LocalServer()
    server.start(sys.executable, str(tiny_checkpoint), "127.0.0.1", 0, folder / "server.log", threads=1,
                 project_folder=str(REPO), extra_args=["--checkpoint", str(props)])
    try:
        yield int(server.wait_ready(120).rsplit(":", 1)[1])
    finally:
        server.stop()


@pytest.fixture
def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def addon_zips(tmp_path_factory) -> dict[str, Path]:
    """Every build target's zip (all platforms), by target name."""
    import build_addon

    out = tmp_path_factory.mktemp("dist")
    return {target.name: build_addon.build_target(target, out)[0] for target in build_addon.BUILD_TARGETS}


@pytest.fixture(scope="session", params=BLENDERS, ids=str)
def blender(request) -> Blender:
    """Each real Blender in turn; skipped, with the reason, where its environment is missing."""
    if reason := request.param.unavailable():
        pytest.skip(reason)
    return request.param


@pytest.fixture
def addon_zip(blender, addon_zips) -> Path:
    """The zip built for `blender`'s Python."""
    return addon_zips[blender.target.name]


@pytest.fixture
def blender_user(tmp_path) -> Path:
    """A clean Blender user folder (BLENDER_USER_RESOURCES) for one test."""
    return tmp_path / "blender_user"


@pytest.fixture
def run_in_blender(tmp_path, blender, blender_user):
    """run_in_blender(scenario, **kwargs): one fresh process of `blender` (its bpy module) with the
    test's isolated user folder (shared by the calls of one test)."""

    def run(scenario: str, timeout_s: float = 180, **kwargs) -> str:
        env = {**os.environ, "BLENDER_USER_RESOURCES": str(blender_user), "PYTHONPATH": str(REPO)}
        proc = subprocess.run([str(blender.python), str(SCENARIOS), scenario, json.dumps(kwargs)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=timeout_s)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0 and "SCENARIO OK" in proc.stdout, output
        return output

    return run
