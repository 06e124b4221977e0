"""Latent diffusion: the codec's normalisation, a tiny latent training run, and its self-contained checkpoint."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from diffusion_core.models.checkpoint import CODEC_PREFIX, export_inference_checkpoint, load_checkpoint
from diffusion_core.diffusion.gaussian import LATENT_CLIP_X0
from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.models.latent import LatentCodec, LatentDataset, encode_dataset, swap_decoder
from diffusion_core.pipeline import VoxelGenerator
from diffusion_core.training.diffusion_trainer import main as train_main
from diffusion_core.training.config import TrainConfig
from diffusion_core.training import vae_trainer
from diffusion_core.training.vae_trainer import VAETrainConfig
from diffusion_core.training.vae_trainer import main as vae_main

TINY_VAE = {"data": {"resolution": 16, "num_samples": 24, "seed": 1},
            "model": {"base_channels": 8, "channel_mults": [1, 2, 2], "latent_channels": 4, "norm_groups": 4},
            "optim": {"batch_size": 4, "steps": 3, "warmup_steps": 1}, "heldout_samples": 4,
            "checkpoint_every": 100, "log_every": 1}


def _tiny_latent(vae_path: str) -> dict:
    return {"data": {"resolution": 16, "num_samples": 12, "seed": 0, "vae_checkpoint": vae_path},
            "model": {"base_channels": 8, "channel_mults": [1, 2], "num_res_blocks": 1, "attention_resolutions": [2],
                      "norm_groups": 4},
            "diffusion": {"num_timesteps": 50},
            "optim": {"lr": 1e-3, "warmup_steps": 1, "batch_size": 4, "steps": 4, "ema_decay": 0.9},
            "checkpoint_every": 2, "preview_every": 4, "log_every": 1, "device": "cpu", "bf16": False}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny trained VAE and a tiny latent diffusion run on it (paths)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("latent")
    (root / "vae.json").write_text(json.dumps(TINY_VAE))
    vae_main(["--config", str(root / "vae.json"), "--out", str(root / "vae")])
    vae_path = str(root / "vae" / "ckpt_last.safetensors")
    (root / "latent.json").write_text(json.dumps(_tiny_latent(vae_path)))
    train_main(["--config", str(root / "latent.json"), "--out", str(root / "latent")])
    yield root
    torch.set_num_threads(threads)


def test_codec_normalises_with_the_stored_scale(runs):
    ckpt = load_checkpoint(runs / "vae" / "ckpt_last.safetensors")
    codec = LatentCodec.from_checkpoint(ckpt)
    torch.testing.assert_close(codec.scale, ckpt.extra["latent_scale"])
    x = torch.from_numpy(make_synthetic_dataset(3, resolution=16, seed=5).voxels * 2 - 1)
    mean, _ = codec.vae.encode(x)
    shift, scale = ckpt.extra["latent_shift"].view(1, -1, 1, 1, 1), ckpt.extra["latent_scale"].view(1, -1, 1, 1, 1)
    z = codec.encode(x)
    torch.testing.assert_close(z, (mean - shift) / scale)
    torch.testing.assert_close(codec.decode(z), codec.vae.decode(mean))
    # Over the VAE's own training set the normalised latents have zero mean and unit std per channel.
    latents = encode_dataset(codec, make_synthetic_dataset(24, resolution=16, seed=1)).latents
    flat = torch.from_numpy(latents).transpose(0, 1).flatten(1)
    torch.testing.assert_close(flat.mean(1), torch.zeros(4), atol=1e-4, rtol=0)
    torch.testing.assert_close(flat.std(1), torch.ones(4), atol=1e-4, rtol=0)


def test_an_unfinished_vae_run_or_a_file_without_a_vae_is_refused_by_name(runs):
    ckpt = load_checkpoint(runs / "vae" / "ckpt_last.safetensors")
    unfinished = dataclasses.replace(ckpt, extra={})
    with pytest.raises(ValueError, match="has not finished"):
        LatentCodec.from_checkpoint(unfinished)
    no_vae = dataclasses.replace(ckpt, config={k: v for k, v in ckpt.config.items() if k != "vae"})
    with pytest.raises(ValueError, match="no VAE config"):
        LatentCodec.from_checkpoint(no_vae)


def test_latent_config_derives_the_unet_from_the_vae(runs):
    cfg = TrainConfig.load(runs / "latent.json")
    assert (cfg.model.resolution, cfg.model.in_channels) == (4, 4)
    bad = _tiny_latent(str(runs / "vae" / "ckpt_last.safetensors"))
    bad["data"]["only_mask"] = True
    with pytest.raises(ValueError, match="VAE encodes 4 channels"):
        TrainConfig.from_dict(bad)


def test_latent_run_caches_latents_and_embeds_the_vae(runs):
    run = runs / "latent"
    cached = LatentDataset.load(run / "latents.npz")
    assert cached.latents.shape == (12, 4, 4, 4, 4)
    assert (run / "previews" / "step_0000004.png").exists()
    ckpt = load_checkpoint(run / "ckpt_last.safetensors")
    vae = load_checkpoint(runs / "vae" / "ckpt_last.safetensors")
    assert ckpt.config["vae"] == vae.config["vae"]
    torch.testing.assert_close(ckpt.extra[CODEC_PREFIX + "scale"], vae.extra["latent_scale"])
    for name, value in vae.model_state.items():
        torch.testing.assert_close(ckpt.extra[CODEC_PREFIX + "vae." + name], value)


def test_generator_samples_latents_and_decodes_voxels(runs):
    # float32: the alpha check below decodes by hand in float32 (bf16 autocast moves alpha by ~2e-3).
    gen = VoxelGenerator.from_checkpoint(runs / "latent" / "ckpt_last.safetensors", precision="fp32")
    assert (gen.resolution, gen.channels, gen.sample_shape) == (16, 4, (4, 4, 4, 4))
    steps = list(gen.generate_progressive([0, 1], [3, 4], steps=3))
    assert steps[-1].x_t.shape == steps[-1].pred_x0.shape == (2, 4, 4, 4, 4)
    voxels = gen.generate([0, 1], [3, 4], steps=3)
    assert voxels.shape == (2, 4, 16, 16, 16) and voxels.dtype == np.float32
    assert voxels.min() >= 0.0 and voxels.max() <= 1.0
    np.testing.assert_array_equal(gen.to_voxels(steps[-1].x_t), voxels)
    preview = gen.to_voxels(steps[0].pred_x0)
    assert preview.shape == (2, 4, 16, 16, 16)
    # Alpha is the decoder's occupancy probability: sigmoid of its logit.
    with torch.no_grad():
        z = steps[-1].x_t[:1]
        logits = gen.codec.vae.decode_logits(z * gen.codec.scale.view(1, -1, 1, 1, 1) + gen.codec.shift.view(1, -1, 1, 1, 1))
    np.testing.assert_allclose(voxels[:1, 3], torch.sigmoid(logits[:, 3]).numpy(), atol=1e-5)
    np.testing.assert_array_equal(gen.generate([0, 1], [3, 4], steps=3), voxels)  # same seeds, same output
    alone = gen.generate([1], [4], steps=3)
    np.testing.assert_allclose(alone, voxels[1:], atol=1e-5)  # batch-invariant
    assert not np.allclose(gen.generate([1], [5], steps=3), alone)


def test_latent_x0_predictions_are_clipped_at_the_generators_bound(runs):
    gen = VoxelGenerator.from_checkpoint(runs / "latent" / "ckpt_last.safetensors", precision="fp32")
    assert gen.clip_x0 == LATENT_CLIP_X0  # the run's config leaves diffusion.clip_x0 unset
    gen.clip_x0 = 0.25
    steps = list(gen.generate_progressive([0, 1], [3, 4], steps=3, sampler="ddim"))
    assert all(float(s.pred_x0.abs().max()) <= 0.25 + 1e-6 for s in steps)
    assert float(steps[0].pred_x0.abs().max()) == pytest.approx(0.25)  # the bound is reached, so it acts


def test_a_model_file_asks_for_round_trips_through_its_vae_before_the_last_decode(runs, tmp_path):
    path = tmp_path / "reencode.safetensors"
    export_inference_checkpoint(runs / "latent" / "ckpt_last.safetensors", path, dtype=None)
    plain = VoxelGenerator.from_checkpoint(path, precision="fp32")
    assert plain.reencode == 0
    z = list(plain.generate_progressive([0, 1], [3, 4], steps=3))[-1].x_t
    export_inference_checkpoint(path, path, dtype=None, reencode=1)  # as scripts/set_model_fields.py --reencode 1
    assert load_checkpoint(path).extra["reencode"] == 1
    once = VoxelGenerator.from_checkpoint(path, precision="fp32")
    assert once.reencode == 1
    with torch.no_grad():
        by_hand = once.codec.decode(once.codec.encode(once.codec.decode(z).clamp(-1, 1)))
    voxels = once.to_voxels(z)
    np.testing.assert_allclose(voxels, ((by_hand + 1) / 2).clamp(0, 1).numpy(), atol=1e-5)
    assert np.abs(voxels - plain.to_voxels(z)).max() > 1e-3  # the round trip changes what is decoded
    np.testing.assert_array_equal(once.generate([0, 1], [3, 4], steps=3), voxels)  # generate decodes the same way
    export_inference_checkpoint(path, path, dtype=None, clip_x0=3)
    assert load_checkpoint(path).extra["reencode"] == 1  # kept when other fields are rewritten
    for bad in (-1, 4, 1.5, True, "1"):
        with pytest.raises(ValueError, match="reencode must be an integer from 0 to 3"):
            once.set_reencode(bad)
    assert once.reencode == 1


def test_exported_latent_checkpoint_is_self_contained(runs, tmp_path):
    src = runs / "latent" / "ckpt_last.safetensors"
    dst = tmp_path / "export.safetensors"
    export_inference_checkpoint(src, dst)
    exported = load_checkpoint(dst)
    assert exported.optimizer_state is None and exported.config["vae"]
    assert all(v.dtype == torch.float16 for k, v in exported.extra.items() if k.startswith(CODEC_PREFIX))
    full = VoxelGenerator.from_checkpoint(src).generate([2], [7], steps=3)
    small = VoxelGenerator.from_checkpoint(dst).generate([2], [7], steps=3)
    assert small.shape == (1, 4, 16, 16, 16)
    assert np.abs(small - full).mean() < 0.02


def test_latent_run_resumes_with_the_embedded_vae(runs):
    train_main(["--out", str(runs / "latent"), "--resume", "--optim.steps", "5"])
    assert load_checkpoint(runs / "latent" / "ckpt_last.safetensors").step == 5


def test_a_latent_model_is_fine_tuned_on_its_own_embedded_vae_only(runs, tmp_path):
    export = runs / "latent" / "model_ema_fp16.safetensors"  # the VAE inside it is float16-rounded
    config = _tiny_latent(str(export))
    (tmp_path / "tune.json").write_text(json.dumps(config))
    train_main(["--config", str(tmp_path / "tune.json"), "--out", str(tmp_path / "tune"), "--init_from", str(export),
                "--optim.lr", "0", "--optim.steps", "1"])
    tuned = load_checkpoint(tmp_path / "tune" / "ckpt_last.safetensors")
    source = load_checkpoint(export)
    assert all(torch.equal(tuned.model_state[k], v.float()) for k, v in source.inference_state().items())
    assert all(torch.equal(tuned.extra[k], v.float()) for k, v in source.extra.items() if k.startswith(CODEC_PREFIX))
    # The VAE run's own float32 weights encode other latents than the model was trained on: refused.
    with pytest.raises(ValueError, match="its VAE differs"):
        train_main(["--config", str(runs / "latent.json"), "--out", str(tmp_path / "other"), "--init_from", str(export)])


def test_a_decoder_trained_alone_goes_into_the_latent_model(runs, tmp_path):
    """train-vae from the latent model with freeze_encoder changes the decoder only and keeps the latent
    normalisation; swap_decoder puts that decoder into the model's file and refuses one from another encoder."""
    model = runs / "latent" / "model_ema_fp16.safetensors"
    config = {**TINY_VAE, "data": {**TINY_VAE["data"], "seed": 5}, "init_from": str(model), "freeze_encoder": True}
    (tmp_path / "decoder.json").write_text(json.dumps(config))
    vae_main(["--config", str(tmp_path / "decoder.json"), "--out", str(tmp_path / "decoder"), "--optim.lr", "0.01"])
    source = LatentCodec.from_checkpoint(load_checkpoint(model)).state_dict()
    run = tmp_path / "decoder" / "ckpt_last.safetensors"
    trained = LatentCodec.from_checkpoint(load_checkpoint(run)).state_dict()
    assert all(torch.equal(trained[k], v) for k, v in source.items() if not k.startswith("vae.decoder."))
    assert any(not torch.equal(trained[k], v) for k, v in source.items() if k.startswith("vae.decoder."))
    swap_decoder(model, run, tmp_path / "swapped.safetensors")
    before, after = load_checkpoint(model), load_checkpoint(tmp_path / "swapped.safetensors")
    assert before.inference_state().keys() == after.inference_state().keys()
    assert all(torch.equal(after.inference_state()[k], v) for k, v in before.inference_state().items())
    codec = {k[len(CODEC_PREFIX):]: v for k, v in after.extra.items() if k.startswith(CODEC_PREFIX)}
    assert codec.keys() == source.keys() and all(v.dtype == torch.float16 for v in codec.values())
    assert all(torch.equal(v.float(), trained[k].half().float()) for k, v in codec.items())
    voxels = make_synthetic_dataset(2, resolution=16, seed=9).voxels
    old, new = VoxelGenerator.from_checkpoint(model), VoxelGenerator.from_checkpoint(tmp_path / "swapped.safetensors")
    z = old.encode(voxels)
    assert torch.equal(new.encode(voxels), z) and not np.array_equal(new.to_voxels(z), old.to_voxels(z))
    with pytest.raises(ValueError, match="another encoder"):  # the VAE run's own float32 weights, not the model's
        swap_decoder(model, runs / "vae" / "ckpt_last.safetensors", tmp_path / "refused.safetensors")
    with pytest.raises(ValueError, match="not a latent model"):  # a VAE run has no denoiser to keep
        swap_decoder(runs / "vae" / "ckpt_last.safetensors", run, tmp_path / "refused.safetensors")
    with pytest.raises(ValueError, match="freeze_encoder needs init_from"):
        VAETrainConfig.from_dict({"freeze_encoder": True})


def test_a_decoder_trained_on_noisy_latents_sees_noise_in_the_models_normalised_units(runs, tmp_path, monkeypatch):
    """latent_noise adds Gaussian noise of latent_noise x the model's latent scale (per channel) to the decoder's input
    in training, and only there: the trainer's std is that product, a zero std changes nothing, the run keeps the
    encoder and its normalisation."""
    model = runs / "latent" / "model_ema_fp16.safetensors"
    config = {**TINY_VAE, "data": {**TINY_VAE["data"], "seed": 5}, "init_from": str(model), "freeze_encoder": True,
              "latent_noise": 0.5, "optim": {**TINY_VAE["optim"], "steps": 2}}
    (tmp_path / "noisy.json").write_text(json.dumps(config))
    stds = []
    real_losses = vae_trainer.vae_losses

    def recording_losses(vae, x, loss_cfg, generator=None, latent_noise_std=None):
        stds.append(latent_noise_std)
        return real_losses(vae, x, loss_cfg, generator, latent_noise_std)

    monkeypatch.setattr(vae_trainer, "vae_losses", recording_losses)
    vae_main(["--config", str(tmp_path / "noisy.json"), "--out", str(tmp_path / "noisy")])
    source = LatentCodec.from_checkpoint(load_checkpoint(model))
    assert len(stds) == 2 and all(torch.allclose(std, 0.5 * source.scale.float()) for std in stds)
    trained = LatentCodec.from_checkpoint(load_checkpoint(tmp_path / "noisy" / "ckpt_last.safetensors"))
    assert VAETrainConfig.from_dict(load_checkpoint(tmp_path / "noisy" / "ckpt_last.safetensors")
                                    .config["train"]).latent_noise == 0.5
    assert torch.equal(trained.scale, source.scale) and torch.equal(trained.shift, source.shift)
    vae = trained.vae
    x = torch.from_numpy(make_synthetic_dataset(2, resolution=16, seed=9).voxels * 2 - 1)
    plain = vae(x, torch.Generator().manual_seed(0))[0]
    zero = vae(x, torch.Generator().manual_seed(0), torch.zeros_like(source.scale))[0]
    noisy = vae(x, torch.Generator().manual_seed(0), 0.5 * source.scale)[0]
    assert torch.equal(plain, zero) and not torch.allclose(plain, noisy)
    for bad, message in (({"latent_noise": 0.1}, "latent_noise needs freeze_encoder"),
                         ({"latent_noise": -0.1}, "latent_noise must be"),
                         ({"latent_noise": float("nan")}, "latent_noise must be")):
        with pytest.raises(ValueError, match=message):
            VAETrainConfig.from_dict(bad)
