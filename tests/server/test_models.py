"""One server, several models (protocol 1.3): `info` lists them, a request names one, batches never mix them."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from blender_addon.shared import protocol as p
from blender_addon.shared.client import JobFailed
from blender_addon.shared.server_process import LocalServer
from diffusion_core.joining import join_parts
from diffusion_core.pipeline import VoxelGenerator
from server.app import ServerConfig, ServerError, VoxelServer
from server.launch import REPO
from tests.tiny_models import save_tiny_checkpoint

from .conftest import client_of, serving


@pytest.fixture(scope="module")
def second_checkpoint(tmp_path_factory):
    """A second tiny model: other classes, a 16^3 grid, 40 timesteps (so its max_steps differs)."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("second") / "props.safetensors", ("crate", "barrel"),
                                resolution=16, num_timesteps=40, perturb=True)


@pytest.fixture(scope="module")
def two_models(generator, second_checkpoint):
    with serving([generator, VoxelGenerator.from_checkpoint(second_checkpoint)]) as server:
        yield server


def test_info_lists_every_model_and_the_default_first(two_models, generator):
    with client_of(two_models) as client:
        info = client.hello()
    assert [m.name for m in info.models] == ["tiny", "props"]
    assert info.models[1] == p.ModelInfo("props", ("crate", "barrel"), 16, 4, 40)
    assert (info.model_name, info.class_names, info.resolution) == ("tiny", tuple(generator.class_names), 8)


def test_a_request_gets_the_model_it_names_and_the_default_without_one(two_models, generator, second_checkpoint):
    props = VoxelGenerator.from_checkpoint(second_checkpoint)
    with client_of(two_models) as client:
        crate = client.submit(p.GenerateRequest(model="props", class_label="barrel", seed=3, steps=4)).result(30)
        plain = client.submit(p.GenerateRequest(class_label="lamp", seed=3, steps=4)).result(30)
    assert crate.class_name == "barrel" and crate.voxels.shape == (1, 4, 16, 16, 16)
    np.testing.assert_allclose(crate.voxels, join_parts(props.generate([1], [3], steps=4), 0.9), atol=1e-5)
    assert plain.class_name == "lamp" and plain.voxels.shape == (1, 4, 8, 8, 8)


def test_requests_for_different_models_never_share_a_batch(two_models):
    runs = two_models.worker.batches_run
    with client_of(two_models) as client:
        jobs = [client.submit(p.GenerateRequest(model=m, steps=30, seed=i)) for i, m in enumerate(["tiny", "props"] * 2)]
        results = [job.result(60) for job in jobs]
    assert [r.voxels.shape[-1] for r in results] == [8, 16, 8, 16]
    assert two_models.worker.batches_run - runs >= 2  # at least one batch per model, whatever the timing


@pytest.mark.parametrize("request_, code, words", [
    (p.GenerateRequest(model="sofa"), p.UNKNOWN_MODEL, "tiny, props"),
    (p.GenerateRequest(model="props", class_label="lamp"), p.UNKNOWN_CLASS, "crate, barrel"),
    (p.GenerateRequest(model="props", steps=41), p.LIMIT_EXCEEDED, "40 steps"),
])
def test_bad_model_requests_get_a_clear_error_and_the_server_carries_on(two_models, request_, code, words):
    with client_of(two_models) as client:
        with pytest.raises(JobFailed) as e:
            client.submit(request_).result(30)
        assert e.value.code == code and words in str(e.value)
        assert client.submit(p.GenerateRequest(model="props", steps=2)).result(30).class_name == "crate"


def test_two_models_under_one_name_are_refused(generator):
    with pytest.raises(ServerError, match="its own name"):
        VoxelServer([generator, generator], ServerConfig(port=0))


def test_a_1_2_info_without_models_reads_as_its_one_model():
    content, _ = p.ServerInfo(model_name="old", class_names=("a", "b"), resolution=16).to_wire()
    del content["models"]
    info = p.ServerInfo.from_wire(content, {})
    assert info.models == (p.ModelInfo("old", ("a", "b"), 16, 4, p.Limits().max_steps),)
    assert info.model() is info.models[0] and info.model("old") is info.models[0] and info.model("new") is None
    assert p.GenerateRequest.from_wire({}, {}).model == ""  # a 1.2 request: the server's default


def test_serve_and_generate_cli_with_two_checkpoints(tiny_checkpoint, second_checkpoint, tmp_path):
    server = LocalServer()
    server.start(sys.executable, str(tiny_checkpoint), "127.0.0.1", 0, tmp_path / "server.log", threads=1,
                 project_folder=str(REPO), extra_args=["--checkpoint", str(second_checkpoint)])
    try:
        address = server.wait_ready(120)
        assert "models=tiny:8^3x3,props:16^3x2" in (tmp_path / "server.log").read_text()
        cmd = [sys.executable, "-m", "server", "generate", "--server", address, "--model", "props", "--class", "crate",
               "--steps", "3", "--out", str(tmp_path / "out")]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        with np.load(tmp_path / "out" / "crate_0.npz", allow_pickle=False) as z:
            assert z["voxels"].shape == (4, 16, 16, 16)
    finally:
        server.stop()


def test_edit_requests_round_trip_the_server(make_server, generator):
    """1.4: a request from a grid, a region and a blend; malformed ones get clear errors."""
    server = make_server()
    init = np.random.default_rng(1).random((4, 8, 8, 8), dtype=np.float32)
    region = np.zeros((8, 8, 8), bool)
    region[:, :, 4:] = True
    with client_of(server) as client:
        kept = client.submit(p.GenerateRequest(class_label="lamp", steps=4, count=2, init=init, region=region,
                                               strength=1.0)).result(30)
        outside = np.broadcast_to(~region, (2, 4, 8, 8, 8))
        assert np.array_equal(kept.voxels[outside], np.broadcast_to(init, (2, 4, 8, 8, 8))[outside])
        same = client.submit(p.GenerateRequest(class_label="lamp", steps=4, init=init, strength=0.0,
                                               join_parts=False)).result(30)  # the start grid itself
        np.testing.assert_allclose(same.voxels[0], init, atol=1e-6)
        row = client.submit(p.GenerateRequest(class_label="lamp", steps=4, seed=5, count=3, blend_seed=9)).result(30)
        ends = [client.submit(p.GenerateRequest(class_label="lamp", steps=4, seed=s, count=3)).result(30) for s in (5, 7)]
        np.testing.assert_array_equal(row.voxels[0], ends[0].voxels[0])  # weight 0: seed 5's object
        with pytest.raises(JobFailed) as e:
            client.submit(p.GenerateRequest(init=np.zeros((4, 16, 16, 16), np.float32), strength=0.5)).result(30)
        assert e.value.code == p.INVALID_REQUEST and "[4, 8, 8, 8]" in str(e.value)
        assert client.submit(p.GenerateRequest(steps=2)).result(30).voxels.shape == (1, 4, 8, 8, 8)  # it carries on


@pytest.mark.parametrize("content, arrays, words", [
    ({"strength": 0.5}, {}, "need an 'init'"),
    ({"strength": 1.5}, {}, "strength"),
    ({}, {"init": np.full((4, 8, 8, 8), 2.0, np.float32)}, "in [0, 1]"),
    ({}, {"init": np.zeros((4, 8, 8, 8), np.float32), "region": np.full((8, 8, 8), 3, np.uint8)}, "0 (keep)"),
    ({}, {"init": np.zeros((4, 8, 8, 8), np.float32), "region": np.zeros((4, 4, 4), np.uint8)}, "matching init"),
    ({"blend_seed": -1}, {}, "blend_seed"),
])
def test_malformed_edit_requests_are_refused_with_the_field(content, arrays, words):
    with pytest.raises(p.ProtocolError, match=re.escape(words)):
        p.GenerateRequest.from_wire({"class_label": "chair", **content}, arrays)
