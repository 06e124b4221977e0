"""The serve and generate commands as real processes; CurveZMQ; mesh files."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from blender_addon.shared import protocol as p
from blender_addon.shared.client import CurveKeys, JobFailed, ServerUnavailable, VoxelClient
from server import serve
from server.keys import create_keys
from server.launch import REPO, ServerProcess
from server.mesh_io import per_vertex_colors, write_obj, write_ply

from .conftest import port_of

LONG = p.GenerateRequest(steps=1000, sampler="ddpm", count=4)


@pytest.fixture
def served(tiny_checkpoint):
    with ServerProcess(tiny_checkpoint, timeout_s=60) as proc:
        yield proc


def test_sigkill_mid_job_makes_client_raise_within_timeout(served):
    c = VoxelClient("127.0.0.1", served.port, timeout_s=0.5, retries=1)
    try:
        job = c.submit(LONG)
        next(job.progress(timeout_s=30))
        served.kill()
        t0 = time.monotonic()
        with pytest.raises(ServerUnavailable):
            job.result(timeout_s=30)
        assert time.monotonic() - t0 < 0.5 * (1 + 2) + 1.0
    finally:
        c.close()


def test_sigterm_answers_in_flight_jobs_and_exits_zero(served):
    c = VoxelClient("127.0.0.1", served.port, timeout_s=2)
    try:
        running = c.submit(LONG)
        queued = c.submit(p.GenerateRequest(steps=3, sampler="ddpm", count=1))
        next(running.progress(timeout_s=30))
        assert served.stop() == 0  # SIGTERM
        for job in (running, queued):
            with pytest.raises(JobFailed) as e:
                job.result(timeout_s=10)
            assert e.value.code == p.SHUTTING_DOWN
    finally:
        c.close()


def test_non_loopback_bind_needs_curve_keys(tiny_checkpoint, capsys):
    assert serve.main(["--checkpoint", str(tiny_checkpoint), "--host", "0.0.0.0"]) == 2
    assert "--curve-dir" in capsys.readouterr().err
    assert serve.is_loopback("127.0.0.1") and serve.is_loopback("::1") and not serve.is_loopback("192.168.1.2")


def test_curve_admits_authorized_clients_only(make_server, tmp_path):
    keys = tmp_path / "keys"
    create_keys(keys, ["artist"])
    create_keys(tmp_path / "other", ["stranger"])  # a key pair the server does not know
    server = make_server(curve_dir=keys)
    port = port_of(server.address)
    good = CurveKeys.from_files(keys / "clients" / "artist.key_secret", keys / "server.key")
    bad = CurveKeys.from_files(tmp_path / "other" / "clients" / "stranger.key_secret", keys / "server.key")
    with VoxelClient("127.0.0.1", port, timeout_s=2, curve=good) as c:
        assert c.submit(p.GenerateRequest(steps=2)).result(timeout_s=10).voxels is not None
    for kwargs in ({"curve": bad}, {}):  # unknown key, and no encryption at all
        c = VoxelClient("127.0.0.1", port, timeout_s=0.5, retries=0, **kwargs)
        with pytest.raises(ServerUnavailable):
            c.hello()
        c.close()


def test_generate_cli_writes_npz_and_meshes(tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "server", "generate", "--checkpoint", str(tiny_checkpoint), "--class", "lamp",
           "--seed", "4", "--count", "2", "--steps", "3", "--alpha-threshold", "0.5", "--mesh-style", "cubes",
           "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(f.name for f in out.iterdir()) == ["lamp_4.npz", "lamp_4.ply", "lamp_5.npz", "lamp_5.ply"]
    with np.load(out / "lamp_5.npz", allow_pickle=False) as z:
        assert z["voxels"].shape == (4, 8, 8, 8) and int(z["seed"]) == 5 and str(z["class_name"]) == "lamp"
    assert (out / "lamp_4.ply").read_bytes().startswith(b"ply\nformat binary_little_endian 1.0")
    bad = subprocess.run(cmd[:-2] + ["--class", "sofa", "--out", str(out)], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and "sofa" in bad.stderr and "Traceback" not in bad.stderr


def _quad_mesh() -> p.MeshData:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
    return p.MeshData(vertices, np.array([[0, 1, 2, 3]], np.int32), np.array([[1, 0.5, 0, 1]], np.float32), "face")


def test_ply_and_obj_writers(tmp_path):
    mesh = _quad_mesh()
    vertices, faces, colors = per_vertex_colors(mesh)
    assert faces.tolist() == [[0, 1, 2, 3]] and colors.tolist() == [[1, 0.5, 0, 1]] * 4
    write_ply(tmp_path / "m.ply", mesh)
    data = (tmp_path / "m.ply").read_bytes()
    header, body = data.split(b"end_header\n")
    assert b"element vertex 4" in header and b"element face 1" in header
    assert len(body) == 4 * (12 + 4) + (1 + 16)
    first = np.frombuffer(body[:16], dtype=np.dtype([("xyz", "<f4", 3), ("rgba", "u1", 4)]))
    assert first["rgba"].tolist() == [[255, 128, 0, 255]]
    write_obj(tmp_path / "m.obj", mesh)
    lines = (tmp_path / "m.obj").read_text().splitlines()
    assert lines[1].startswith("v 0.000000 0.000000 0.000000 1.0000 0.5000") and lines[-1] == "f 1 2 3 4"


def test_ready_line_reports_threads(served):
    assert any("READY tcp://" in line and "threads=1" in line for line in served.tail), served.tail
    assert serve.default_threads() == max(1, (os.cpu_count() or 1) - 1)


@pytest.fixture(params=["garbage", "foreign_safetensors", "missing"])
def bad_checkpoint(request, tmp_path):
    path = tmp_path / "bad.safetensors"
    if request.param == "garbage":
        path.write_bytes(b"this is not a checkpoint" * 10)
    elif request.param == "foreign_safetensors":  # valid safetensors, but none of our metadata
        import torch
        from safetensors.torch import save_file

        save_file({"w": torch.zeros(2)}, str(path), metadata={"format": "pt"})
    return path


def test_bad_checkpoint_is_one_line_exit_2(bad_checkpoint, capsys):
    from server import generate_cmd

    assert serve.main(["--checkpoint", str(bad_checkpoint), "--threads", "1", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "bad.safetensors" in err and "\n" not in err and "Traceback" not in err
    assert generate_cmd.main(["--checkpoint", str(bad_checkpoint), "--class", "0", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "bad.safetensors" in err and "\n" not in err


def test_generate_cli_talks_to_a_curve_server(make_server, tmp_path, capsys):
    from server import generate_cmd

    keys = tmp_path / "keys"
    create_keys(keys, ["artist"])
    server = make_server(curve_dir=keys)
    base = ["--server", server.address, "--class", "0", "--steps", "2", "--alpha-threshold", "0.5",
            "--out", str(tmp_path / "out")]
    curve = ["--curve-client-secret", str(keys / "clients" / "artist.key_secret"),
             "--curve-server-public", str(keys / "server.key")]
    assert generate_cmd.main(base + curve + ["--timeout", "5"]) == 0, capsys.readouterr().err
    assert sorted(f.name for f in (tmp_path / "out").iterdir()) == ["chair_0.npz", "chair_0.ply"]
    assert generate_cmd.main(base + ["--timeout", "0.5"]) == 1 and "CurveZMQ" in capsys.readouterr().err
