"""Start `python -m server serve` from this checkout and wait until it is ready (scripts and tests).

    with ServerProcess(checkpoint) as server:
        client = VoxelClient("127.0.0.1", server.port)

The same `LocalServer` the Blender add-on uses starts it (this Python, this repository as working
directory, a free loopback port); its output goes to `log_path`, its last lines to `tail`.
"""
from __future__ import annotations

import sys
import tempfile
from collections import deque
from pathlib import Path

from blender_addon.shared.server_process import LocalServer

REPO = Path(__file__).resolve().parents[1]


class ServerProcess:
    """A ready `serve` child on 127.0.0.1; raises RuntimeError (with the reason) if it is not ready in time.
    `threads`: torch threads (None: the server's default)."""

    def __init__(self, checkpoint: str | Path, *, threads: int | None = 1, timeout_s: float = 120.0,
                 log_path: Path | None = None) -> None:
        self.log_path = log_path or Path(tempfile.mkdtemp(prefix="voxel-diffusion-")) / "server.log"
        self._server = LocalServer()
        self._server.start(sys.executable, str(checkpoint), "127.0.0.1", 0, self.log_path, threads=threads,
                           project_folder=str(REPO))
        try:
            self.address = self._server.wait_ready(timeout_s)
        except RuntimeError:
            self._server.stop()
            raise
        self.port = int(self.address.rsplit(":", 1)[1])

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._server.pid

    @property
    def tail(self) -> deque[str]:
        """The server's last output lines."""
        return self._server.tail

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM, wait (kill after `timeout_s`); returns the exit code."""
        return self._server.stop(timeout_s)

    def kill(self) -> None:
        """SIGKILL at once, as if the server crashed."""
        self._server.kill()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
