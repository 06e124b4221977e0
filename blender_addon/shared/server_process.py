"""A local model server started by the add-on (bpy-free): `python -m server serve` as a subprocess.

Started from the preferences (Python executable of an environment with the voxel-diffusion package
installed, a checkpoint, optionally the project folder as working directory), stopped again by
`stop()`, which the add-on calls on unregister and at exit. Nothing here blocks except `wait_ready`
and `stop(wait=True)` (scripts, tests, exit): the child's output is copied to the log by a thread.

With `restart_on_crash` (the add-on's), a server that was ready and then exited on its own with an
error (the compute thread kept failing: exit 3; a crash; a kill) is started again, at most
`max_restarts` times per RESTART_WINDOW_S; `notice` says what happened, for the panel. A server that
fails before it is ready (bad checkpoint, missing package) is not restarted: it would fail again.
"""
from __future__ import annotations

import atexit
import os
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

_READY = re.compile(r"READY (tcp://\S+)")
_NO_PACKAGE = "No module named server"
RESTART_WINDOW_S = 600.0


def default_threads() -> int:
    """Leave one core to Blender."""
    return max(1, (os.cpu_count() or 1) - 1)


class LocalServer:
    """At most one child server process; its output goes to `log_path` (and the last lines to `tail`)."""

    def __init__(self, restart_on_crash: bool = False, max_restarts: int = 3) -> None:
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._launch: tuple[list[str], str | None, Path] | None = None  # args, cwd, log path
        self.address = ""  # "tcp://host:port" once the server printed READY
        self.tail: deque[str] = deque(maxlen=20)
        self.restart_on_crash, self.max_restarts = restart_on_crash, max_restarts
        self.restarts = 0  # automatic restarts so far
        self.notice = ""  # what the last automatic restart (or refusal to restart) was about
        self._restart_times: deque[float] = deque()
        self._lock = threading.Lock()
        atexit.register(self.stop)

    @property
    def pid(self) -> int | None:
        """The running child's process id (None without one)."""
        return self._process.pid if self.running else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def reading(self) -> bool:
        """The child's output is still being copied (its last lines may still be on the way)."""
        return self._reader is not None and self._reader.is_alive()

    @property
    def error(self) -> str | None:
        """A readable reason when the last started server exited with an error, else None."""
        if self._process is None or self._process.poll() in (None, 0):
            return None
        lines = [line for line in self.tail if line.strip()]
        hint = ""
        if any(_NO_PACKAGE in line for line in lines):
            hint = (" This Python cannot import the server: install the voxel-diffusion package in its "
                    "environment (pip install -e PROJECT) or set the project folder.")
        last = lines[-1].strip().rstrip(".") if lines else "no output"
        return f"The local server exited ({self._process.returncode}): {last}.{hint}"

    def describe(self) -> str:
        if self._process is None:
            return "No local server started"
        if self.running:
            state = f"ready at {self.address}" if self.address else "starting…"
            again = f", restarted {self.restarts}x after crashes" if self.restarts else ""
            return f"Local server {state} (pid {self._process.pid}{again})"
        return self.error or "Local server stopped"

    def start(self, python: str, checkpoint: str, host: str, port: int, log_path: Path, *,
              threads: int | None = None, project_folder: str | None = None, extra_args: Sequence[str] = ()) -> None:
        """Start `python -m server serve` and return at once; raises ValueError / OSError with a
        readable message. `threads`: torch CPU threads (default `default_threads()`); `project_folder`:
        working directory, so `-m server` resolves from a source checkout (None: the package must be
        installed in `python`'s environment); `extra_args`: more `serve` flags."""
        if self.running:
            return
        if not Path(python).is_file():
            raise ValueError(f"Python executable not found: {python}")
        if not Path(checkpoint).is_file():
            raise ValueError(f"Checkpoint not found: {checkpoint}")
        if project_folder is not None and not Path(project_folder).is_dir():
            raise ValueError(f"Project folder not found: {project_folder}")
        args = [python, "-m", "server", "serve", "--checkpoint", checkpoint, "--host", host, "--port", str(port),
                "--threads", str(threads or default_threads())]
        args += list(extra_args)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._launch = (args, project_folder, log_path)
        self.restarts, self.notice = 0, ""
        self._restart_times.clear()
        self._spawn()

    def _spawn(self) -> None:
        args, cwd, log_path = self._launch
        self.address = ""
        self.tail.clear()
        self._process = subprocess.Popen(
            args, cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._drain, args=(self._process, log_path),
                                        name="voxel-diffusion-server-log", daemon=True)
        self._reader.start()

    def _drain(self, process: subprocess.Popen, log_path: Path) -> None:
        was_ready = False
        with open(log_path, "a", encoding="utf-8") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()
                self.tail.append(line)
                if not self.address and (match := _READY.match(line)):
                    self.address, was_ready = match.group(1), True
        if was_ready and process.wait() != 0:
            self._maybe_restart(process)

    def _maybe_restart(self, process: subprocess.Popen) -> None:
        """The child exited with an error after it was ready: start it again if allowed (reader thread)."""
        with self._lock:
            if not self.restart_on_crash or self._process is not process:  # stopped or replaced meanwhile
                return
            reason = self.error or f"The local server exited ({process.returncode})."
            now = time.monotonic()
            while self._restart_times and now - self._restart_times[0] > RESTART_WINDOW_S:
                self._restart_times.popleft()
            if len(self._restart_times) >= self.max_restarts:
                self.notice = (f"{reason} Not restarted: it already failed {len(self._restart_times)} times "
                               f"in {RESTART_WINDOW_S / 60:.0f} minutes; see its log.")
                return
            self._restart_times.append(now)
            self.restarts += 1
            self.notice = f"{reason} Restarted it automatically (restart {self.restarts})."
            with open(self._launch[2], "a", encoding="utf-8") as log:
                log.write(f"--- {self.notice}\n")
            self._spawn()

    def wait_ready(self, timeout_s: float = 120.0) -> str:
        """Block until the server is ready (scripts, tests); returns its address.
        Raises RuntimeError with the reason if it exits or is not ready in time."""
        process = self._process
        if process is None:
            raise RuntimeError("no local server was started")
        deadline = time.monotonic() + timeout_s
        while not self.address and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.address:
            return self.address
        if process.poll() is not None:
            self._reader.join(5.0)  # the child is gone: its last output is moments away
            raise RuntimeError(self.error or "the local server stopped")
        raise RuntimeError(f"the local server was not ready within {timeout_s:g} s")

    def stop(self, timeout_s: float = 5.0, wait: bool = True) -> int | None:
        """Terminate the child (SIGTERM, then kill after `timeout_s`). `wait=False` returns at once
        and leaves the waiting (and killing) to a thread: the UI path. Returns the exit code when it
        waited (None without a child)."""
        with self._lock:  # a crash being restarted right now either finished spawning or sees None
            process, self._process = self._process, None
        self.address = ""
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            if not wait:
                threading.Thread(target=_reap, args=(process, timeout_s), name="voxel-diffusion-server-stop",
                                 daemon=True).start()
                return None
            _reap(process, timeout_s)
        return process.returncode

    def kill(self) -> None:
        """SIGKILL the child at once (a crashed server, for tests); `stop()` still reaps it."""
        if self.running:
            self._process.kill()


def _reap(process: subprocess.Popen, timeout_s: float) -> None:
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
