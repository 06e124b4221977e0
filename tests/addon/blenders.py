"""The real Blenders the add-on tests run in: the bpy module of one virtual environment each.

scripts/setup_env.sh creates the environments (requirements-*.txt); a Blender whose environment is
missing or broken is reported by `unavailable()`, and its tests are skipped with that reason.
"""
from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

import build_addon

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Blender:
    """bpy `version` in `venv`. `has_pyzmq`: whether the environment has pyzmq of its own; without it
    the add-on's `import zmq` can only come from the wheel Blender installed from the zip."""

    version: str
    venv: str
    requirements: str
    has_pyzmq: bool

    @property
    def python(self) -> Path:
        return REPO / self.venv / "bin" / "python"

    @property
    def target(self) -> build_addon.BuildTarget:
        """The build whose zip this Blender installs."""
        return build_addon.target_for_blender(build_addon.version_tuple(self.version))

    @property
    def ext_cli(self) -> Path:
        """Blender's own extension command line (`blender_ext.py validate ZIP`)."""
        major_minor = ".".join(self.version.split(".")[:2])
        site = next((REPO / self.venv / "lib").glob("python3.*/site-packages"))
        return site / "bpy" / major_minor / "scripts/addons_core/bl_pkg/cli/blender_ext.py"

    def unavailable(self) -> str | None:
        """Why this Blender cannot run (None when it can)."""
        return _probe(self)

    def __str__(self) -> str:
        return f"bpy{self.version}"


@functools.cache
def _probe(blender: Blender) -> str | None:
    how = f"scripts/setup_env.sh creates {blender.venv} from {blender.requirements}; see its output"
    if not blender.python.is_file():
        return f"Blender {blender.version} is not installed: no {blender.venv}/bin/python ({how})"
    proc = subprocess.run([str(blender.python), "-c", "import bpy; print(bpy.app.version_string)"],
                          capture_output=True, text=True, timeout=120)
    found = proc.stdout.strip().splitlines()[-1:] if proc.returncode == 0 else []
    if found != [blender.version]:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1] if not found else f"found {found[0]}"
        return f"Blender {blender.version} is not usable in {blender.venv}: {detail} ({how})"
    return None


BLENDERS = (
    Blender("4.2.0", ".venv42", "requirements-blender42.txt", has_pyzmq=False),
    Blender("5.0.1", ".venv", "requirements-dev.txt", has_pyzmq=True),
    Blender("5.3.0", ".venv313", "requirements-blender313.txt", has_pyzmq=False),
)
