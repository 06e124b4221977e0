"""Training: config handling, the run directory, overfitting one batch, and exact resume."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from diffusion_core.diffusion.gaussian import DiffusionConfig, GaussianDiffusion
from diffusion_core.training import diffusion_trainer as train_module
from diffusion_core.models.checkpoint import load_checkpoint
from diffusion_core.pipeline import VoxelGenerator
from diffusion_core.data.shapes import CLASS_NAMES
from diffusion_core.training.diffusion_trainer import main
from diffusion_core.training.config import TrainConfig, apply_overrides

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny_test.json"


def _losses(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "samples_per_s"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_config_files_load_and_derive_the_model_fields():
    default = TrainConfig.load(Path(TINY).with_name("default_16.json"))
    assert default.model.resolution == 16 and default.model.in_channels == 4
    assert default.model.num_classes == len(CLASS_NAMES) and default.model.learn_sigma
    assert default.optim.label_dropout == 0.1 and default.diffusion.schedule == "cosine"
    tiny = TrainConfig.load(TINY)
    assert TrainConfig.from_dict(json.loads(json.dumps(tiny.to_dict()))) == tiny  # checkpoint round trip
    overrides = [("data.only_mask", "true"), ("device", "cpu")]
    mask = TrainConfig.from_dict(apply_overrides(json.loads(TINY.read_text()), overrides))
    assert mask.model.in_channels == 1 and mask.device == "cpu"


@pytest.mark.parametrize(
    "override, message",
    [
        (("optim.learning_rate", "1"), "unknown optim field"),
        (("model.resolution", "32"), "conflicts"),
        (("device", "tpu"), "device"),
        (("log_every", "0"), "log_every"),
        (("optim.cooldown_steps", "7"), "cooldown_steps"),  # tiny_test has 6 steps
        (("optim.min_timestep", "50"), "min_timestep"),  # tiny_test has 50 timesteps
        (("optim.min_timestep", "-1"), "min_timestep"),
        (("data.class_weights", '{"tabel": 2}'), "unknown class"),
        (("data.class_weights", '{"table": 0}'), "class_weights.table must be a number > 0"),
    ],
)
def test_bad_configs_are_rejected(override, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(apply_overrides(json.loads(TINY.read_text()), [override]))


def test_the_run_builds_its_set_with_the_class_weights(tmp_path):
    run = tmp_path / "weighted"
    main(["--config", str(TINY), "--out", str(run), "--data.num_samples", "40", "--optim.steps", "1",
          "--data.class_weights", '{"chair": 5, "stool": 0.5}'])
    with np.load(run / "dataset.npz") as f:
        counts = np.bincount(f["labels"], minlength=len(CLASS_NAMES))
    weights = np.array([{"chair": 5, "stool": 0.5}.get(name, 1) for name in CLASS_NAMES])
    assert counts.sum() == 40 and np.abs(counts - 40 * weights / weights.sum()).max() < 1
    assert counts[CLASS_NAMES.index("chair")] == 11  # quota 10.26: the one sample left over (largest remainder)
    assert TrainConfig.load(run / "config.json").data.class_weights == {"chair": 5, "stool": 0.5}


def test_overfits_one_batch_and_writes_the_run_directory(tmp_path):
    run = tmp_path / "overfit"
    main(["--config", str(TINY), "--out", str(run), "--data.num_samples", "4", "--optim.steps", "200",
          "--optim.label_dropout", "0", "--optim.warmup_steps", "10", "--optim.lr", "3e-3",
          "--log_every", "10", "--checkpoint_every", "100", "--preview_every", "200"])
    records = _losses(run)
    assert [r["step"] for r in records] == list(range(10, 201, 10))
    mse = [r["mse"] for r in records]  # the eps-MSE; the small-weight vb term is spiky at small t
    assert sum(mse[-3:]) / 3 < 0.3 * mse[0], mse
    assert records[-1]["loss"] < records[0]["loss"]

    for name in ("config.json", "dataset.npz", "loss.png", "ckpt_last.safetensors", "model_ema_fp16.safetensors",
                 "previews/step_0000200.png"):
        assert (run / name).is_file(), name
    ckpt = load_checkpoint(run / "ckpt_last.safetensors")
    assert ckpt.step == 200 and ckpt.class_names == list(CLASS_NAMES)
    assert (run / "model_ema_fp16.safetensors").stat().st_size < (run / "ckpt_last.safetensors").stat().st_size / 4
    generator = VoxelGenerator.from_checkpoint(run / "model_ema_fp16.safetensors")
    assert generator.model_name == "overfit" and generator.generate([0], [0], steps=2).shape == (1, 4, 8, 8, 8)


@pytest.mark.parametrize("min_timestep", [0, 40])
def test_training_draws_timesteps_from_min_timestep_up(tmp_path, monkeypatch, min_timestep):
    drawn = []
    original = train_module.GaussianDiffusion.training_losses

    def recording(self, model, x0, t, *args, **kwargs):
        drawn.append(t.clone())
        return original(self, model, x0, t, *args, **kwargs)

    monkeypatch.setattr(train_module.GaussianDiffusion, "training_losses", recording)
    main(["--config", str(TINY), "--out", str(tmp_path / "run"), "--optim.steps", "30",
          "--optim.min_timestep", str(min_timestep), "--checkpoint_every", "30"])
    t = torch.cat(drawn)
    assert len(t) == 30 * 4 and int(t.max()) <= 49
    assert int(t.min()) == min_timestep if min_timestep else int(t.min()) < 10  # 120 draws reach the low end


def test_learning_rate_warms_up_holds_then_cools_down(tmp_path):
    run = tmp_path / "schedule"
    main(["--config", str(TINY), "--out", str(run), "--optim.steps", "8", "--optim.warmup_steps", "2",
          "--optim.cooldown_steps", "4", "--optim.lr", "1e-3", "--log_every", "1"])
    lrs = [r["lr"] for r in _losses(run)]  # the learning rate of each step 1..8
    assert lrs[:4] == pytest.approx([5e-4, 1e-3, 1e-3, 1e-3])  # warm-up, then constant
    assert lrs[4] == pytest.approx(1e-3) and all(a > b for a, b in zip(lrs[4:], lrs[5:]))
    assert 0 < lrs[-1] < 0.2e-3  # cosine to 0 over the last 4 steps


@pytest.mark.parametrize("log_every, hue", [(1, False), (2, False), (1, True)])
def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path, monkeypatch, log_every, hue):
    """tiny_test: 6 steps over 4-step epochs, checkpoints at 3 and 6, a crash during step 5. log_every 2: the
    checkpoint at step 3 falls inside a log interval; hue: a hue-conditional run (two optimizer groups)."""
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    colour = ["--model.hue_conditional", "true", "--optim.hue_lr_scale", "10"] if hue else []
    logging = ["--log_every", str(log_every), *colour]
    main(["--config", str(TINY), "--out", str(whole), *logging])

    original_step = train_module._Trainer.train_step

    def crash_at_step_5(self):
        if self.step == 4:
            raise KeyboardInterrupt
        return original_step(self)

    monkeypatch.setattr(train_module._Trainer, "train_step", crash_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        main(["--config", str(TINY), "--out", str(crashed), *logging])
    monkeypatch.undo()
    assert load_checkpoint(crashed / "ckpt_last.safetensors").step == 3
    assert [r["step"] for r in _losses(crashed)] == list(range(log_every, 5, log_every))  # 4 is redone

    with pytest.raises(FileExistsError):
        main(["--config", str(TINY), "--out", str(crashed)])
    with pytest.raises(ValueError, match="cannot change the model"):
        main(["--out", str(crashed), "--resume", "--model.base_channels", "16"])
    main(["--out", str(crashed), "--resume"])

    assert _losses(crashed) == _losses(whole) and len(_losses(whole)) == 6 // log_every
    a, b = load_checkpoint(whole / "ckpt_last.safetensors"), load_checkpoint(crashed / "ckpt_last.safetensors")
    assert a.step == b.step == 6
    for state_a, state_b in ((a.model_state, b.model_state), (a.ema_state, b.ema_state)):
        assert state_a.keys() == state_b.keys()
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert a.optimizer_state["state"].keys() == b.optimizer_state["state"].keys()
    for pid, state in a.optimizer_state["state"].items():
        assert all(torch.equal(state[k], b.optimizer_state["state"][pid][k]) for k in state)

    # Resuming a finished run with more steps keeps going.
    main(["--out", str(crashed), "--resume", "--optim.steps", "8"])
    assert [r["step"] for r in _losses(crashed)] == list(range(log_every, 9, log_every))


def test_resume_may_change_only_the_sampling_clip_and_the_export_carries_it(tmp_path):
    run = tmp_path / "run"
    main(["--config", str(TINY), "--out", str(run)])
    assert VoxelGenerator.from_checkpoint(run / "model_ema_fp16.safetensors").clip_x0 == 1.0  # voxel space
    with pytest.raises(ValueError, match="cannot change the diffusion"):
        main(["--out", str(run), "--resume", "--diffusion.schedule", "linear"])
    weights = load_checkpoint(run / "ckpt_last.safetensors").ema_state
    main(["--out", str(run), "--resume", "--diffusion.clip_x0", "2.5"])  # no step runs: the config is rewritten
    ckpt = load_checkpoint(run / "ckpt_last.safetensors")
    assert ckpt.config["train"]["diffusion"]["clip_x0"] == 2.5 and ckpt.step == 6
    assert all(torch.equal(weights[k], ckpt.ema_state[k]) for k in weights)
    assert VoxelGenerator.from_checkpoint(run / "model_ema_fp16.safetensors").clip_x0 == 2.5


def test_a_new_run_can_start_from_another_models_weights(tmp_path):
    source = tmp_path / "source"
    main(["--config", str(TINY), "--out", str(source)])
    export = load_checkpoint(source / "model_ema_fp16.safetensors")
    # lr 0 and no weight decay: the one step leaves the weights where init_from put them.
    tuned = tmp_path / "tuned"
    main(["--config", str(TINY), "--out", str(tuned), "--init_from", str(source / "model_ema_fp16.safetensors"),
          "--optim.lr", "0", "--optim.steps", "1", "--data.seed", "5"])
    ckpt = load_checkpoint(tuned / "ckpt_last.safetensors")
    assert ckpt.step == 1 and ckpt.config["train"]["init_from"].endswith("model_ema_fp16.safetensors")
    for name, weight in export.inference_state().items():
        assert torch.equal(ckpt.model_state[name], weight.float()), name
    fresh = tmp_path / "fresh"  # without init_from the same run starts elsewhere
    main(["--config", str(TINY), "--out", str(fresh), "--optim.lr", "0", "--optim.steps", "1", "--data.seed", "5"])
    assert not all(torch.equal(load_checkpoint(fresh / "ckpt_last.safetensors").model_state[k], v.float())
                   for k, v in export.inference_state().items())


def test_init_from_refuses_a_model_of_another_architecture(tmp_path):
    main(["--config", str(TINY), "--out", str(tmp_path / "source")])
    with pytest.raises(ValueError, match="UNet config differs"):
        main(["--config", str(TINY), "--out", str(tmp_path / "wider"), "--model.base_channels", "12",
              "--init_from", str(tmp_path / "source" / "model_ema_fp16.safetensors")])


def test_the_high_noise_weight_weights_the_noise_error_by_inverse_snr_up_to_its_cap(tmp_path):
    diffusion = GaussianDiffusion.from_config(DiffusionConfig(num_timesteps=50))
    t = torch.tensor([0, 25, 49])
    abar = torch.from_numpy(diffusion.alphas_cumprod[t.numpy()]).float()
    assert torch.allclose(diffusion.inverse_snr(t), (1 - abar) / abar)
    runs = {}
    for weight in ("1", "5"):
        run = tmp_path / weight
        main(["--config", str(TINY), "--out", str(run), "--optim.steps", "1", "--optim.high_noise_weight", weight])
        runs[weight] = run
    assert _losses(runs["1"]) == _losses(runs["5"])  # logged: the plain loss of the same first batch
    plain, weighted = (load_checkpoint(runs[w] / "ckpt_last.safetensors").model_state for w in ("1", "5"))
    assert any(not torch.equal(plain[k], weighted[k]) for k in plain)  # the weights moved otherwise
    with pytest.raises(ValueError, match="high_noise_weight"):
        TrainConfig.from_dict(apply_overrides(json.loads(TINY.read_text()), [("optim.high_noise_weight", "0.5")]))
