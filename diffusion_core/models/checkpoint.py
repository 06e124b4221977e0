"""Self-describing checkpoints: every tensor in safetensors, everything else as JSON metadata.

Layout of one `.safetensors` file:
  tensors   model.<name>, ema.<name>, optim.<param index>.<state name>, extra.<key>
  metadata  {"format": "pt", "voxel_diffusion": JSON({version, config, class_names, step,
             optimizer: {param_groups, state_values}, extra})}
`config` is {"unet": asdict(UNetConfig), "diffusion": asdict(DiffusionConfig), "data": {...}, ...}
and is enough to rebuild the model, so loading never guesses the architecture. Loading never
unpickles anything. Writes are atomic: a crash mid-write leaves the previous file intact.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes

from .hue import validate_hue_calibration
from .reencode import validate_reencode

FORMAT_VERSION = 1
_META_KEY = "voxel_diffusion"
CODEC_PREFIX = "codec."
"""`extra` tensors under this prefix (a latent model's embedded VAE, see latent.py) are inference weights."""


@dataclass
class Checkpoint:
    """A loaded checkpoint. Tensors are on the CPU in the dtype they were saved in."""

    model_state: dict[str, torch.Tensor]
    ema_state: dict[str, torch.Tensor] | None
    optimizer_state: dict[str, Any] | None
    config: dict[str, Any]
    class_names: list[str]
    step: int
    extra: dict[str, Any] = field(default_factory=dict)

    def inference_state(self) -> dict[str, torch.Tensor]:
        """The weights to sample with: EMA weights when present, else the raw model's."""
        return self.ema_state if self.ema_state else self.model_state


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model_state: dict[str, torch.Tensor],
    config: dict[str, Any],
    class_names: Sequence[str],
    step: int,
    ema_state: dict[str, torch.Tensor] | None = None,
    optimizer_state: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically (`<path>.tmp`, fsync, then os.replace).

    `extra` values may be tensors (stored as tensors, e.g. an RNG state as uint8) or anything
    JSON-serialisable (stored in the metadata).
    """
    tensors: dict[str, torch.Tensor] = {}
    tensors.update(_prefixed("model.", model_state))
    if ema_state is not None:
        tensors.update(_prefixed("ema.", ema_state))
    extra = dict(extra or {})
    tensors.update(_prefixed("extra.", {k: v for k, v in extra.items() if isinstance(v, torch.Tensor)}))
    meta: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "config": config,
        "class_names": list(class_names),
        "step": int(step),
        "has_ema": ema_state is not None,
        "optimizer": None,
        "extra": {k: v for k, v in extra.items() if not isinstance(v, torch.Tensor)},
    }
    if optimizer_state is not None:
        optim_tensors, meta["optimizer"] = _flatten_optimizer(optimizer_state)
        tensors.update(optim_tensors)
    data = safetensors_bytes(tensors, metadata={"format": "pt", _META_KEY: json.dumps(meta)})
    _atomic_write(Path(path), data)


def read_checkpoint_config(path: str | os.PathLike) -> dict[str, Any]:
    """Only the `config` of a checkpoint (reads the metadata, not the tensors)."""
    with safe_open(str(path), framework="pt", device="cpu") as f:
        return _read_meta(f, path)["config"]


def _read_meta(f: Any, path: str | os.PathLike) -> dict[str, Any]:
    metadata = f.metadata() or {}
    if _META_KEY not in metadata:
        raise ValueError(f"{path} is not a voxel diffusion checkpoint (no '{_META_KEY}' metadata)")
    meta = json.loads(metadata[_META_KEY])
    if meta["version"] > FORMAT_VERSION:
        raise ValueError(f"{path} has checkpoint format {meta['version']}; this code reads <= {FORMAT_VERSION}")
    return meta


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by save_checkpoint (or export_inference_checkpoint)."""
    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = _read_meta(f, path)
        groups: dict[str, dict[str, torch.Tensor]] = {"model": {}, "ema": {}, "optim": {}, "extra": {}}
        for key in f.keys():
            prefix, name = key.split(".", 1)
            groups[prefix][name] = f.get_tensor(key)
    optimizer_state = None
    if meta["optimizer"] is not None:
        optimizer_state = _unflatten_optimizer(groups["optim"], meta["optimizer"])
    return Checkpoint(
        model_state=groups["model"],
        ema_state=groups["ema"] if meta["has_ema"] else None,
        optimizer_state=optimizer_state,
        config=meta["config"],
        class_names=meta["class_names"],
        step=meta["step"],
        extra={**meta["extra"], **groups["extra"]},
    )


def export_inference_checkpoint(
    src: str | os.PathLike, dst: str | os.PathLike, dtype: torch.dtype | None = torch.float16,
    clip_x0: float | None = None, model_name: str | None = None, hue_calibration: Sequence[float] | None = None,
    reencode: int | None = None,
) -> None:
    """Keep only the inference weights (EMA if present) and any embedded codec (CODEC_PREFIX extras),
    cast to `dtype` (None: as stored), plus config and names; `clip_x0` (> 0) rewrites the sampling clip diffusion.clip_x0
    on the way (the one diffusion field that is a sampling choice, see DiffusionConfig); `model_name` (non-empty)
    replaces the name a server lists the model under (by default the training run's); `hue_calibration` sets a
    colour model's hue offsets (models.hue.calibrated_hues; kept from `src` when not given); `reencode` sets a latent
    model's round trips before the last decode (models.reencode; kept from `src` when not given).

    The result has no optimizer state or raw weights: about 1/6 of a float32 training checkpoint
    in float16, small enough to bundle in git. VoxelGenerator loads it like any other checkpoint.
    `dst` may be `src` (the write is atomic).
    """
    if model_name is not None and not model_name.strip():
        raise ValueError("model_name must not be empty")
    ckpt = load_checkpoint(src)
    if reencode is not None:
        reencode = validate_reencode(reencode, latent="vae" in ckpt.config)
    if clip_x0 is not None:
        if not clip_x0 > 0:
            raise ValueError(f"clip_x0 must be positive, got {clip_x0}")
        ckpt.config = json.loads(json.dumps(ckpt.config))
        for section in (ckpt.config, ckpt.config.get("train")):
            if section is not None:
                section["diffusion"]["clip_x0"] = float(clip_x0)
    def cast(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(dtype) if dtype is not None and v.is_floating_point() else v for k, v in state.items()}

    weights = cast(ckpt.inference_state())
    codec = cast({k: v for k, v in ckpt.extra.items() if k.startswith(CODEC_PREFIX)})
    save_checkpoint(
        dst,
        model_state={},
        ema_state=weights,
        config=ckpt.config,
        class_names=ckpt.class_names,
        step=ckpt.step,
        extra={**{k: v for k, v in ckpt.extra.items() if k in ("model_name", "hue_calibration", "reencode")},
               **({} if model_name is None else {"model_name": model_name}),
               **({} if hue_calibration is None else {"hue_calibration": validate_hue_calibration(list(hue_calibration))}),
               **({} if reencode is None else {"reencode": reencode}),
               **codec},
    )


def _prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + k: v.detach().to("cpu").contiguous() for k, v in state.items()}


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch optimizer state_dict -> (tensors 'optim.<param>.<name>', JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    state_values: dict[str, dict[str, Any]] = {}
    for param_id, param_state in state_dict["state"].items():
        for name, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{param_id}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                state_values.setdefault(str(param_id), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "state_values": state_values}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        param_id, name = key.split(".", 1)
        state.setdefault(int(param_id), {})[name] = value
    for param_id, values in meta["state_values"].items():
        state.setdefault(int(param_id), {}).update(values)
    return {"state": dict(sorted(state.items())), "param_groups": meta["param_groups"]}


def _atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `<path>.tmp`, flush it to disk, then rename over `path` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
