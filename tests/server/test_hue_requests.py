"""A model that takes a colour (protocol 1.6): `info` says so, `hue` reaches it per object, other models refuse it."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from blender_addon.shared import protocol as p
from blender_addon.shared.client import JobFailed
from diffusion_core.joining import join_parts
from diffusion_core.pipeline import VoxelGenerator
from server.launch import REPO
from tests.tiny_models import save_tiny_checkpoint

from .conftest import client_of, serving


@pytest.fixture(scope="module")
def hue_checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("hue") / "paint.safetensors", ("crate", "barrel"),
                                perturb=True, hue_conditional=True)


@pytest.fixture(scope="module")
def server(generator, hue_checkpoint):
    with serving([generator, VoxelGenerator.from_checkpoint(hue_checkpoint)]) as served:
        yield served


def test_info_says_which_models_take_a_colour(server):
    with client_of(server) as client:
        info = client.hello()
    assert [(m.name, m.hue_conditional) for m in info.models] == [("tiny", False), ("paint", True)]
    content = info.models[1].to_wire()
    assert p.ModelInfo.from_wire(content) == info.models[1]
    del content["hue_conditional"]  # a 1.5 server's model: takes none
    assert not p.ModelInfo.from_wire(content).hue_conditional


def test_the_asked_hue_reaches_every_object_and_none_draws_each_objects_own(server, hue_checkpoint):
    paint = VoxelGenerator.from_checkpoint(hue_checkpoint)
    with client_of(server) as client:
        asked = client.submit(p.GenerateRequest(model="paint", class_label="barrel", seed=3, count=2, steps=4,
                                                hue=0.6)).result(30)
        own = client.submit(p.GenerateRequest(model="paint", class_label="barrel", seed=3, count=2, steps=4)).result(30)
    expected = join_parts(paint.generate([1, 1], [3, 4], steps=4, hues=[0.6, 0.6]), 0.9)
    np.testing.assert_allclose(asked.voxels, expected, atol=1e-5)
    np.testing.assert_allclose(own.voxels, join_parts(paint.generate([1, 1], [3, 4], steps=4), 0.9), atol=1e-5)
    assert not np.allclose(asked.voxels, own.voxels)


def test_a_model_without_the_colour_condition_refuses_a_hue_and_the_server_carries_on(server):
    with client_of(server) as client:
        with pytest.raises(JobFailed) as e:
            client.submit(p.GenerateRequest(class_label="lamp", hue=0.3, steps=2)).result(30)
        assert e.value.code == p.INVALID_REQUEST and "takes no colour" in str(e.value) and "paint" in str(e.value)
        assert client.submit(p.GenerateRequest(class_label="lamp", steps=2)).result(30).class_name == "lamp"


def test_generate_cli_asks_for_a_hue(hue_checkpoint, tiny_checkpoint, tmp_path):
    def run(checkpoint, *extra):
        cmd = [sys.executable, "-m", "server", "generate", "--checkpoint", str(checkpoint), "--class", "0",
               "--steps", "3", "--out", str(tmp_path / "out"), *extra]
        return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)

    done = run(hue_checkpoint, "--hue", "0.25", "--no-join-parts")
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "out" / "crate_0.npz", allow_pickle=False) as z:
        paint = VoxelGenerator.from_checkpoint(hue_checkpoint)
        expected, other = (paint.generate([0], [0], steps=3, hues=[hue])[0] for hue in (0.25, 0.75))
        # another process: its thread count may differ, and with it the rounding of float sums (~2e-5 seen)
        np.testing.assert_allclose(z["voxels"], expected, atol=1e-4)
        assert np.abs(z["voxels"] - other).max() > 1e-2  # far from another hue's object
    refused = run(tiny_checkpoint, "--hue", "0.25")
    assert refused.returncode == 1 and "takes no hue" in refused.stderr
