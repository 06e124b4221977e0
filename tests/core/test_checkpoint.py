"""Checkpoints: exact round trip (weights, EMA, optimizer, RNG state), atomic writes, inference export."""
from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np
import pytest
import torch

from diffusion_core.models import checkpoint
from diffusion_core.models.checkpoint import export_inference_checkpoint, load_checkpoint, save_checkpoint
from diffusion_core.diffusion.gaussian import DiffusionConfig
from diffusion_core.training.ema import EMA
from diffusion_core.pipeline import VoxelGenerator
from diffusion_core.models.unet import UNet3D, UNetConfig

CLASSES = ["cube", "sphere", "torus"]
UNET = UNetConfig(resolution=8, in_channels=4, base_channels=8, channel_mults=(1, 2), attention_resolutions=(4,),
                  num_classes=len(CLASSES), norm_groups=4)
DIFFUSION = DiffusionConfig(num_timesteps=20)
CONFIG = {"unet": asdict(UNET), "diffusion": asdict(DIFFUSION), "data": {"resolution": 8}}


def _trained(steps: int = 3) -> tuple[UNet3D, torch.optim.Optimizer, EMA]:
    """A tiny UNet after a few AdamW steps (non-trivial optimizer state and EMA)."""
    torch.manual_seed(0)
    model = UNet3D(UNET)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    ema = EMA(model, decay=0.9)
    for step in range(steps):
        x = torch.randn(2, 4, 8, 8, 8)
        loss = model(x, torch.tensor([1, 5]), y=torch.tensor([0, 3])).square().mean() + x.mean()
        optimizer.zero_grad()
        (loss + sum(p.square().sum() for p in model.parameters())).backward()
        optimizer.step()
        ema.update(model, step + 1)
    return model, optimizer, ema


def _save(path, model, optimizer, ema, step, **extra) -> None:
    save_checkpoint(path, model_state=model.state_dict(), ema_state=ema.state_dict(),
                    optimizer_state=optimizer.state_dict(), config=CONFIG, class_names=CLASSES, step=step, extra=extra)


def _assert_states_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), key


def test_round_trip_restores_everything_and_training_continues_identically(tmp_path):
    model, optimizer, ema = _trained()
    rng = np.random.default_rng(5)
    path = tmp_path / "ckpt.safetensors"
    _save(path, model, optimizer, ema, step=3, torch_rng=torch.get_rng_state(),
          numpy_rng=rng.bit_generator.state, note="hello")
    expected_rand, expected_np = torch.rand(4), rng.random(3)

    ckpt = load_checkpoint(path)
    assert (ckpt.step, ckpt.class_names) == (3, CLASSES)
    assert UNetConfig(**ckpt.config["unet"]) == UNET  # JSON: tuples come back as lists
    assert DiffusionConfig(**ckpt.config["diffusion"]) == DIFFUSION
    _assert_states_equal(ckpt.model_state, model.state_dict())
    _assert_states_equal(ckpt.ema_state, ema.state_dict())
    assert ckpt.extra["note"] == "hello"
    torch.set_rng_state(ckpt.extra["torch_rng"])
    assert torch.equal(torch.rand(4), expected_rand)
    restored_rng = np.random.default_rng()
    restored_rng.bit_generator.state = ckpt.extra["numpy_rng"]
    np.testing.assert_array_equal(restored_rng.random(3), expected_np)

    # A fresh model + optimizer loaded from the checkpoint takes exactly the same next step.
    clone = UNet3D(UNET)
    clone.load_state_dict(ckpt.model_state)
    clone_opt = torch.optim.AdamW(clone.parameters(), lr=1.0)
    clone_opt.load_state_dict(ckpt.optimizer_state)
    assert clone_opt.param_groups[0]["lr"] == 1e-2
    for m, opt in ((model, optimizer), (clone, clone_opt)):
        opt.zero_grad()
        sum(p.square().sum() for p in m.parameters()).backward()
        opt.step()
    _assert_states_equal(clone.state_dict(), model.state_dict())


def test_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt_last.safetensors"
    model, optimizer, ema = _trained(steps=1)
    _save(path, model, optimizer, ema, step=1)
    old = {k: v.clone() for k, v in model.state_dict().items()}
    model, optimizer, ema = _trained(steps=2)

    written = {}

    def crash(fd: int) -> None:  # the disk fills up half-way through the new file
        written["size"] = os.fstat(fd).st_size
        os.ftruncate(fd, written["size"] // 2)
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint.os, "fsync", crash)
    with pytest.raises(OSError, match="No space"):
        _save(path, model, optimizer, ema, step=2)
    monkeypatch.undo()

    assert written["size"] > 1000
    assert not (tmp_path / "ckpt_last.safetensors.tmp").exists()
    ckpt = load_checkpoint(path)
    assert ckpt.step == 1
    _assert_states_equal(ckpt.model_state, old)
    _save(path, model, optimizer, ema, step=2)
    assert load_checkpoint(path).step == 2


def test_rejects_files_that_are_not_our_checkpoints(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a voxel diffusion checkpoint"):
        load_checkpoint(path)


def test_exported_inference_checkpoint_is_small_and_samples_like_the_original(tmp_path):
    model, optimizer, ema = _trained()
    full, small = tmp_path / "full.safetensors", tmp_path / "small.safetensors"
    _save(full, model, optimizer, ema, step=3, model_name="tiny")
    export_inference_checkpoint(full, small)

    assert small.stat().st_size < full.stat().st_size / 5
    exported = load_checkpoint(small)
    assert exported.optimizer_state is None and exported.model_state == {}
    assert exported.extra == {"model_name": "tiny"}
    for key, value in ema.state_dict().items():
        if value.is_floating_point():
            assert exported.ema_state[key].dtype == torch.float16
            torch.testing.assert_close(exported.ema_state[key].float(), value, atol=1e-3, rtol=1e-3)

    kwargs = dict(labels=[0, 2], seeds=[1, 2], steps=4, guidance=2.0)
    from_full = VoxelGenerator.from_checkpoint(full)
    from_small = VoxelGenerator.from_checkpoint(small)
    assert (from_small.model_name, from_small.class_names) == ("tiny", CLASSES)
    np.testing.assert_allclose(from_small.generate(**kwargs), from_full.generate(**kwargs), atol=2e-2)


def test_export_may_rewrite_the_sampling_clip_and_keeps_the_weights(tmp_path):
    src = tmp_path / "src.safetensors"
    save_checkpoint(src, model_state={}, ema_state={"w": torch.arange(4, dtype=torch.float16)},
                    config={"unet": {}, "diffusion": {"clip_x0": None}, "train": {"diffusion": {"clip_x0": None}}},
                    class_names=["a"], step=3)
    export_inference_checkpoint(src, src, dtype=None, clip_x0=4)  # in place, as scripts/set_model_fields.py --clip-x0 does
    ckpt = load_checkpoint(src)
    assert ckpt.config["diffusion"]["clip_x0"] == ckpt.config["train"]["diffusion"]["clip_x0"] == 4.0
    assert torch.equal(ckpt.ema_state["w"], torch.arange(4, dtype=torch.float16)) and ckpt.step == 3
    with pytest.raises(ValueError, match="clip_x0 must be positive"):
        export_inference_checkpoint(src, tmp_path / "bad.safetensors", clip_x0=0)


def test_export_may_rename_the_model(tmp_path):
    src = tmp_path / "src.safetensors"
    save_checkpoint(src, model_state={}, ema_state={"w": torch.ones(2)}, config={"unet": {}}, class_names=["a"],
                    step=1, extra={"model_name": "run_name"})
    export_inference_checkpoint(src, src, dtype=None, model_name="detailed")  # as scripts/set_model_fields.py --name does
    assert load_checkpoint(src).extra["model_name"] == "detailed"
    with pytest.raises(ValueError, match="model_name must not be empty"):
        export_inference_checkpoint(src, tmp_path / "bad.safetensors", model_name=" ")


def test_only_a_latent_model_is_given_round_trips_through_a_vae(tmp_path):
    src = tmp_path / "src.safetensors"
    save_checkpoint(src, model_state={}, ema_state={"w": torch.ones(2)}, config={"unet": {}}, class_names=["a"], step=1)
    with pytest.raises(ValueError, match="reencode 1 needs a latent model"):
        export_inference_checkpoint(src, tmp_path / "bad.safetensors", reencode=1)
    with pytest.raises(ValueError, match="reencode must be an integer"):
        export_inference_checkpoint(src, tmp_path / "bad.safetensors", reencode=-1)
    export_inference_checkpoint(src, src, dtype=None, reencode=0)
    assert load_checkpoint(src).extra["reencode"] == 0
