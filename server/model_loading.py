"""Loading a checkpoint for the `serve` and `generate` commands, with one actionable line on failure."""
from __future__ import annotations

from pathlib import Path

from server.contract import Generator


class CheckpointError(Exception):
    """The file is missing, not a Voxel Diffusion checkpoint, or corrupt (message: one line)."""


def load_generator(path: Path, device: str) -> Generator:
    """VoxelGenerator.from_checkpoint(path, device), its errors turned into CheckpointError."""
    from safetensors import SafetensorError

    from diffusion_core.pipeline import VoxelGenerator

    if not Path(path).is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    try:
        return VoxelGenerator.from_checkpoint(path, device=device)
    except (SafetensorError, ValueError, KeyError, TypeError, RuntimeError, OSError) as e:
        reason = (str(e).strip().splitlines() or [""])[0] or type(e).__name__
        raise CheckpointError(f"cannot load checkpoint {path}: {type(e).__name__}: {reason}. Expected a "
                              "safetensors checkpoint written by `python -m diffusion_core train` or `export`") from e
