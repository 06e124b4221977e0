"""A local model server started by the add-on (bpy-free): `python -m server serve` as a subprocess.

Started from the preferences (Python executable of an environment with the voxel-diffusion package,
plus a checkpoint), stopped again by `stop()`, which the add-on calls on unregister and at exit.
"""
from __future__ import annotations

import atexit
import subprocess
from pathlib import Path


class LocalServer:
    """At most one child server process; output goes to `log_path`."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._log = None
        atexit.register(self.stop)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def describe(self) -> str:
        if self._process is None:
            return "No local server started"
        code = self._process.poll()
        return f"Local server running (pid {self._process.pid})" if code is None else f"Local server exited ({code})"

    def start(self, python: str, checkpoint: str, host: str, port: int, log_path: Path) -> None:
        """Start `python -m server serve`; raises OSError / ValueError with a readable message."""
        if self.running:
            return
        if not Path(python).is_file():
            raise ValueError(f"Python executable not found: {python}")
        if not Path(checkpoint).is_file():
            raise ValueError(f"Checkpoint not found: {checkpoint}")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self._process = subprocess.Popen(
            [python, "-m", "server", "serve", "--checkpoint", checkpoint, "--host", host, "--port", str(port)],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the child (SIGTERM, then kill after `timeout_s`)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
