"""`python -m server <command> [args]`: one dispatcher; adding a command is one line in COMMANDS."""
from __future__ import annotations

import importlib
import sys

# command -> (module, help). Each module has main(argv: list[str]) -> int | None; imported lazily so
# one command's heavy dependencies never slow down another.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("server.serve", "serve a checkpoint over ZeroMQ"),
    "generate": ("server.generate_cmd", "generate objects to .npz + mesh files (no Blender needed)"),
    "train": ("diffusion_core.train", "train a diffusion model (pixel space, or latent with data.vae_checkpoint)"),
    "train-vae": ("diffusion_core.vae_train", "train the voxel VAE that latent diffusion models use"),
    "keys": ("server.keys", "create CurveZMQ keys for serving beyond loopback"),
    "eval": ("server.eval_cmd", "score samples vs held-out references (report, gallery, --sweep)"),
    "train-classifier": ("diffusion_core.classifier", "train the shape classifier that eval uses"),
}


def usage() -> str:
    lines = ["usage: python -m server <command> [args]   (python -m server <command> --help)", "", "commands:"]
    lines += [f"  {name:<17} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(usage(), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return module.main(argv[1:]) or 0
