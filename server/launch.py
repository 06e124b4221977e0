"""Start `python -m server serve` as a child process and wait until it is ready (for scripts and tests).

    with ServerProcess(checkpoint) as server:
        client = VoxelClient("127.0.0.1", server.port)

The child's output is drained by a thread (into `lines`, and to `echo` if given), so a chatty server
can never block on a full pipe.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_READY = re.compile(r"READY (tcp://\S+)")


class ServerProcess:
    """A `serve` child on `host` (port 0 = a free port); raises RuntimeError if it is not ready in time."""

    def __init__(self, checkpoint: str | Path, *, host: str = "127.0.0.1", port: int = 0, threads: int | None = 1,
                 extra_args: Sequence[str] = (), timeout_s: float = 120.0,
                 echo: Callable[[str], None] | None = None) -> None:
        args = [sys.executable, "-m", "server", "serve", "--checkpoint", str(checkpoint), "--host", host,
                "--port", str(port), *extra_args]
        if threads is not None:
            args += ["--threads", str(threads)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1)
        self.lines: list[str] = []
        self._echo = echo
        self._ready = threading.Event()
        self.address = ""
        self.port = -1
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout_s) or not self.address:
            self.kill()
            raise RuntimeError(f"server not ready within {timeout_s:.0f} s:\n" + "".join(self.lines[-30:]))

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if self._echo is not None:
                self._echo(line.rstrip("\n"))
            if not self._ready.is_set() and (match := _READY.match(line)):
                self.address = match.group(1)
                self.port = int(self.address.rsplit(":", 1)[1])
                self._ready.set()
        self._ready.set()  # the child exited (ready or not): never leave the starter waiting

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int:
        """Send `sig` and wait for the exit code; kills the child if it outlives `timeout_s`."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                pass
