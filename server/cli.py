"""`python -m server <command> [args]`: serving and generating. Training and evaluation are the core's
(`python -m diffusion_core`)."""
from __future__ import annotations

from collections.abc import Sequence

from blender_addon.shared.commands import dispatch

COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("server.serve", "serve a checkpoint over ZeroMQ"),
    "generate": ("server.generate_cmd", "generate objects to .npz + mesh files (no Blender needed)"),
    "keys": ("server.keys", "create CurveZMQ keys for serving beyond loopback"),
}


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch("python -m server", COMMANDS, argv)
