"""LocalServer (bpy-free): a real `python -m server serve` child started the way the add-on does."""
import sys
from pathlib import Path

import pytest

from blender_addon.shared.client import ServerUnavailable, VoxelClient
from blender_addon.shared.server_process import LocalServer, default_threads


def test_starts_answers_and_stops(tiny_checkpoint, tmp_path):
    server = LocalServer()
    log = tmp_path / "logs" / "server.log"
    # An unrelated working directory: `-m server` must resolve from the environment's installed package.
    server.start(sys.executable, str(tiny_checkpoint), "127.0.0.1", 0, log, threads=1, project_folder=str(tmp_path))
    try:
        address = server.wait_ready(90)
        assert server.running and "ready at" in server.describe()
        port = int(address.rsplit(":", 1)[1])
        with VoxelClient("127.0.0.1", port, timeout_s=5, retries=0) as client:
            assert client.info.class_names == ("chair", "table", "lamp")
        assert "READY" in log.read_text()
    finally:
        server.stop()
    assert not server.running and server.error is None
    with pytest.raises(ServerUnavailable):
        VoxelClient("127.0.0.1", port, timeout_s=0.5, retries=0).hello()


def test_threads_default_leaves_a_core_and_reaches_the_command_line(monkeypatch, tmp_path, tiny_checkpoint):
    import subprocess

    seen = {}

    class Recorder:
        def __init__(self, args, **kwargs):
            seen.update(args=args, cwd=kwargs.get("cwd"))
            self.stdout, self.pid = iter(()), 1

        def poll(self):
            return None

    monkeypatch.setattr(subprocess, "Popen", Recorder)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    server = LocalServer()
    server.start(sys.executable, str(tiny_checkpoint), "127.0.0.1", 5557, tmp_path / "log",
                 project_folder=str(tmp_path))
    assert default_threads() == 7 and seen["args"][seen["args"].index("--threads") + 1] == "7"
    assert seen["args"][1:4] == ["-m", "server", "serve"] and seen["cwd"] == str(tmp_path)
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert default_threads() == 1
    server._process = None  # nothing real to stop


@pytest.mark.parametrize("what", ["python", "checkpoint", "project_folder"])
def test_missing_paths_are_refused_readably(what, tiny_checkpoint, tmp_path):
    paths = {"python": sys.executable, "checkpoint": str(tiny_checkpoint), "project_folder": str(tmp_path)}
    paths[what] = str(tmp_path / "missing")
    with pytest.raises(ValueError, match="not found: .*missing"):
        LocalServer().start(paths["python"], paths["checkpoint"], "127.0.0.1", 0, tmp_path / "log",
                            project_folder=paths["project_folder"])


def test_a_bad_checkpoint_gives_a_readable_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    server = LocalServer()
    server.start(sys.executable, str(bad), "127.0.0.1", 0, tmp_path / "log", threads=1)
    with pytest.raises(RuntimeError, match=r"The local server exited \(\d+\): .+") as err:
        server.wait_ready(60)
    assert "Traceback" not in str(err.value)
    assert server.describe() == server.error == str(err.value) and not server.running


def test_a_python_without_the_package_says_so(tmp_path, tiny_checkpoint):
    python = Path(sys.base_prefix) / "bin" / "python3"  # the interpreter the venv was made from
    if not python.is_file():
        pytest.skip("no base interpreter")
    server = LocalServer()
    server.start(str(python), str(tiny_checkpoint), "127.0.0.1", 0, tmp_path / "log", threads=1,
                 project_folder=str(tmp_path))
    with pytest.raises(RuntimeError, match="install the voxel-diffusion package"):
        server.wait_ready(30)
