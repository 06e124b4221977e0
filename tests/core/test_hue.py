"""The colour condition: hue features and draws, the UNet's hue embedding, the data's hues, training with them,
and the sampler and pipeline passing them on."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from diffusion_core.data.dataset import VoxelDataset, make_synthetic_dataset
from diffusion_core.diffusion.gaussian import DiffusionConfig, GaussianDiffusion
from diffusion_core.diffusion.samplers import sample
from diffusion_core.evaluation.colour_metrics import colour_stats
from diffusion_core.models.checkpoint import load_checkpoint
from diffusion_core.models.hue import hue_features, seed_hues, validate_hue
from diffusion_core.models.unet import UNet3D, UNetConfig
from diffusion_core.pipeline import VoxelGenerator
from diffusion_core.training.config import TrainConfig, apply_overrides
from diffusion_core.training import diffusion_trainer as train_module
from diffusion_core.training.diffusion_trainer import main
from tests.tiny_models import TINY_UNET, randomised, record_hues, save_tiny_checkpoint

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny_test.json"


def test_hue_features_are_the_point_on_the_wheel_or_zero_for_none():
    f = hue_features(torch.tensor([0.0, 0.25, 0.5, float("nan")]))
    expected = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(f, expected, atol=1e-6)


def test_seed_hues_are_per_seed_and_spread_over_the_wheel():
    assert seed_hues([7, 8, 9])[1] == seed_hues([8])[0]  # alone or in a batch
    hues = np.array(seed_hues(range(2400)))
    assert hues.min() >= 0 and hues.max() < 1
    counts = np.histogram(hues, bins=12, range=(0, 1))[0]
    assert counts.min() > 150 and counts.max() < 250  # 200 expected per bin


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "red", [0.1]])
def test_validate_hue_rejects_what_is_not_a_finite_number(bad):
    with pytest.raises(ValueError, match="hue"):
        validate_hue(bad)


def test_validate_hue_wraps_turns_into_the_wheel():
    assert validate_hue(None) is None and validate_hue(1.25) == 0.25 and validate_hue(-0.25) == 0.75


def _unets() -> tuple[UNet3D, UNet3D]:
    cfg = UNetConfig(resolution=8, num_classes=3, **TINY_UNET)
    plain = randomised(UNet3D(cfg)).eval()
    coloured = UNet3D(UNetConfig(resolution=8, num_classes=3, hue_conditional=True, **TINY_UNET)).eval()
    state = coloured.state_dict()
    state.update(plain.state_dict())  # the fresh hue embedding joins the plain network's weights
    coloured.load_state_dict(state)
    return plain, coloured


def test_a_fresh_hue_embedding_leaves_the_network_as_it_was_until_trained():
    plain, coloured = _unets()
    x, t, y = torch.randn(3, 4, 8, 8, 8), torch.tensor([3, 20, 40]), torch.tensor([0, 1, 2])
    with torch.no_grad():
        before = plain(x, t, y)
        assert torch.equal(coloured(x, t, y, torch.tensor([0.1, 0.5, float("nan")])), before)
        assert torch.equal(coloured(x, t, y), before)
        coloured.hue_emb.mlp[2].weight.normal_()
        red, cyan = coloured(x, t, y, torch.full((3,), 0.0)), coloured(x, t, y, torch.full((3,), 0.5))
    assert not torch.allclose(red, cyan)


def test_a_network_without_the_colour_condition_refuses_a_hue():
    plain, _ = _unets()
    with pytest.raises(ValueError, match="takes no hue"):
        plain(torch.randn(2, 4, 8, 8, 8), torch.tensor([1, 2]), torch.tensor([0, 1]), torch.tensor([0.1, 0.2]))


def test_the_synthetic_data_keeps_each_objects_main_hue(tmp_path):
    data = make_synthetic_dataset(64, resolution=16, seed=3, classes=["cube", "sphere"])
    assert data.hues.shape == (64,) and data.hues.min() >= 0 and data.hues.max() < 1
    # cubes and spheres are one colour, the main one: their voxels' hue is the recorded hue
    measured = colour_stats(data.voxels).mean_hue
    gap = np.abs((measured - data.hues + 0.5) % 1 - 0.5)
    assert np.nanmax(gap) < 0.01
    data.save(tmp_path / "d.npz")
    assert np.array_equal(VoxelDataset.load(tmp_path / "d.npz").hues, data.hues)
    np.savez(tmp_path / "old.npz", voxels=data.voxels, labels=data.labels, class_names=np.array(data.class_names))
    assert VoxelDataset.load(tmp_path / "old.npz").hues is None  # sets saved before hues existed still load
    with pytest.raises(ValueError, match="hues"):
        VoxelDataset(data.voxels, data.labels, data.class_names, np.full(64, 1.5))


@pytest.mark.parametrize("override, message", [
    ([("model.hue_conditional", "true"), ("data.only_mask", "true")], "hue_conditional needs colour"),
    ([("optim.hue_lr_scale", "0")], "hue_lr_scale"),
])
def test_bad_hue_configs_are_rejected(override, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(apply_overrides(json.loads(TINY.read_text()), override))


def test_the_hue_embedding_learns_at_its_own_rate(tmp_path):
    run = tmp_path / "run"
    main(["--config", str(TINY), "--out", str(run), "--model.hue_conditional", "true", "--optim.hue_lr_scale", "30",
          "--optim.steps", "4"])
    groups = load_checkpoint(run / "ckpt_last.safetensors").optimizer_state["param_groups"]
    rest, hue = groups
    assert hue["lr"] == pytest.approx(30 * rest["lr"]) and rest["lr"] > 0
    assert len(hue["params"]) == 4  # the hue MLP's two weights and two biases


def test_training_feeds_each_objects_hue_dropped_as_often_as_the_label(tmp_path, monkeypatch):
    fed = []
    original = train_module.GaussianDiffusion.training_losses

    def recording(self, model, x0, t, model_kwargs, **kwargs):
        fed.append(model_kwargs["hue"].clone())
        return original(self, model, x0, t, model_kwargs, **kwargs)

    monkeypatch.setattr(train_module.GaussianDiffusion, "training_losses", recording)
    run = tmp_path / "run"
    main(["--config", str(TINY), "--out", str(run), "--model.hue_conditional", "true", "--optim.steps", "40",
          "--optim.label_dropout", "0.25", "--checkpoint_every", "40"])
    hues = torch.cat(fed).numpy()
    known = hues[~np.isnan(hues)]
    assert len(hues) == 40 * 4 and 0.1 < np.isnan(hues).mean() < 0.4  # 25% dropped
    assert np.isin(known, VoxelDataset.load(run / "dataset.npz").hues).all()


def test_the_condition_may_be_added_to_a_trained_model(tmp_path):
    source = tmp_path / "source"
    main(["--config", str(TINY), "--out", str(source)])
    export = source / "model_ema_fp16.safetensors"
    tuned = tmp_path / "tuned"
    # lr 0: the one step leaves the old weights as they were, beside a fresh (zero-output) hue embedding
    main(["--config", str(TINY), "--out", str(tuned), "--init_from", str(export), "--model.hue_conditional", "true",
          "--optim.lr", "0", "--optim.steps", "1", "--data.seed", "5"])
    ckpt = load_checkpoint(tuned / "ckpt_last.safetensors")
    assert ckpt.config["unet"]["hue_conditional"]
    old = load_checkpoint(export).inference_state()
    assert all(torch.equal(ckpt.model_state[k], v.float()) for k, v in old.items())
    assert not ckpt.model_state["hue_emb.mlp.2.weight"].any()
    plain, coloured = (VoxelGenerator.from_checkpoint(p) for p in (export, tuned / "model_ema_fp16.safetensors"))
    assert coloured.hue_conditional and not plain.hue_conditional
    np.testing.assert_allclose(coloured.generate([0, 1], [3, 4], steps=3, hues=[0.25, None]),
                               plain.generate([0, 1], [3, 4], steps=3), atol=1e-3)  # float16 export of both


def _recording(calls: list[dict]):
    def model(x, t, **kwargs):
        calls.append(kwargs)
        return torch.zeros(x.shape[0], 2 * x.shape[1], *x.shape[2:])
    return model


def test_the_sampler_guides_on_the_class_and_the_hue_together():
    calls: list[dict] = []
    diffusion = GaussianDiffusion.from_config(DiffusionConfig(num_timesteps=50))
    hues = torch.tensor([0.1, 0.7])
    sample(_recording(calls), diffusion, (2, 4, 4, 4, 4), steps=3, sampler="ddim", eta=0.0, seeds=[1, 2],
           labels=torch.tensor([0, 1]), hues=hues, guidance=2.0, null_label=2)
    assert len(calls) == 3
    for kwargs in calls:
        assert torch.equal(kwargs["y"], torch.tensor([0, 1, 2, 2]))
        assert torch.equal(kwargs["hue"][:2], hues) and kwargs["hue"][2:].isnan().all()  # unconditional: none
    calls.clear()
    sample(_recording(calls), diffusion, (2, 4, 4, 4, 4), steps=2, sampler="ddim", eta=0.0, seeds=[1, 2],
           labels=torch.tensor([0, 1]), guidance=2.0, null_label=2)
    assert "hue" not in calls[0]  # models without the condition are called as before


def test_the_generator_draws_hues_from_the_seeds_or_takes_the_requested_ones(tmp_path, monkeypatch):
    path = save_tiny_checkpoint(tmp_path / "hue.safetensors", ["a", "b"], perturb=True, hue_conditional=True)
    generator = VoxelGenerator.from_checkpoint(path)
    seen = record_hues(generator, monkeypatch)
    generator.generate([0, 1], [11, 12], steps=2, guidance=1.0, hues=[None, 1.3])
    assert torch.allclose(seen[0], torch.tensor([seed_hues([11])[0], 0.3]))
    with pytest.raises(ValueError, match="one hue"):
        generator.generate([0, 1], [11, 12], steps=2, hues=[0.1])
    plain = VoxelGenerator.from_checkpoint(save_tiny_checkpoint(tmp_path / "plain.safetensors", ["a", "b"]))
    with pytest.raises(ValueError, match="takes no hue"):
        plain.generate([0], [1], steps=2, hues=[0.5])
