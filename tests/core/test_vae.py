"""The voxel VAE: shapes, decoded value ranges, overfitting a few shapes, and the training CLI's outputs."""
from __future__ import annotations

import json

import pytest
import torch

from diffusion_core.models.checkpoint import load_checkpoint
from diffusion_core.data.dataset import make_synthetic_dataset
from diffusion_core.models.latent import encode_means, latent_stats
from diffusion_core.models.vae import VAEConfig, VoxelVAE, depth_to_space, space_to_depth
from diffusion_core.training.vae_trainer import VAELossConfig, VAEOptimConfig, VAETrainConfig, _lr, evaluate, main, vae_losses

TINY_VAE = {"base_channels": 8, "channel_mults": [1, 2, 2], "num_res_blocks": 1, "latent_channels": 4,
            "norm_groups": 4}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("resolution, latent", [(16, 4), (32, 8)])
def test_encode_decode_shapes_and_ranges(resolution, latent):
    vae = VoxelVAE(VAEConfig(**TINY_VAE))
    x = torch.rand(2, 4, resolution, resolution, resolution) * 2 - 1
    mean, logvar = vae.encode(x)
    assert mean.shape == logvar.shape == (2, 4, latent, latent, latent)
    out = vae.decode(mean)
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    assert vae.cfg.latent_resolution(resolution) == latent
    with pytest.raises(ValueError, match="divisible"):
        vae.cfg.latent_resolution(18)


def test_space_to_depth_folds_each_block_into_channels_and_depth_to_space_undoes_it():
    x = torch.arange(2 * 4 * 8**3, dtype=torch.float32).reshape(2, 4, 8, 8, 8)
    folded = space_to_depth(x, 2)
    assert folded.shape == (2, 32, 4, 4, 4)
    # channel c * 8 + (i * 4 + j * 2 + k) holds voxel (2 d + i, 2 h + j, 2 w + k) of channel c
    assert torch.equal(folded[:, 3 * 8 + 5], x[:, 3, 1::2, 0::2, 1::2])
    assert torch.equal(depth_to_space(folded, 2), x)
    assert torch.equal(space_to_depth(x, 1), x) and torch.equal(depth_to_space(x, 1), x)


def test_a_patched_vae_downsamples_by_patch_times_levels_and_old_configs_mean_patch_1():
    cfg = VAEConfig(**{**TINY_VAE, "channel_mults": [1, 2], "patch_size": 2})
    assert cfg.downsample_factor == 4
    vae = VoxelVAE(cfg)
    x = torch.rand(1, 4, 32, 32, 32) * 2 - 1
    mean, _ = vae.encode(x)
    assert mean.shape == (1, 4, 8, 8, 8) and vae.decode(mean).shape == x.shape
    # the fold has no weights: an unpatched model's state_dict keys are what they were before patch_size existed
    plain = VoxelVAE(VAEConfig(**TINY_VAE))
    assert VAEConfig(**TINY_VAE).patch_size == 1
    assert next(iter(plain.state_dict())) == "encoder.0.weight"
    with pytest.raises(ValueError, match="patch_size"):
        VAEConfig(**{**TINY_VAE, "patch_size": 0})


def test_decoded_rgb_is_zero_where_empty():
    """RGB is scaled by the occupancy probability, as in the data (RGB = 0 where alpha = 0)."""
    vae = VoxelVAE(VAEConfig(**TINY_VAE))
    with torch.no_grad():
        vae.decoder[-1][-1].bias.copy_(torch.tensor([5.0, 5.0, 5.0, -30.0]))
        voxels = (vae.decode(torch.zeros(1, 4, 2, 2, 2)) + 1) / 2
    assert voxels[:, 3].max() < 1e-6 and voxels[:, :3].max() < 1e-6


def test_a_tiny_vae_overfits_a_few_shapes():
    data = make_synthetic_dataset(4, resolution=16, seed=3)
    torch.manual_seed(0)
    vae = VoxelVAE(VAEConfig(**TINY_VAE))
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    x = torch.from_numpy(data.voxels * 2 - 1)
    before = evaluate(vae, data)
    for _ in range(150):
        loss = vae_losses(vae, x, VAELossConfig())["loss"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate(vae, data)
    assert before["heldout_iou"] < 0.3 and after["heldout_iou"] > 0.8, (before, after)
    assert after["heldout_rgb_error"] < 0.2
    # the shapes are single components: an untrained decoder's output is not, the overfitted one's are
    assert before["heldout_connected"] == 0.0 and after["heldout_connected"] == 1.0, (before, after)


def test_training_cli_stores_scores_and_the_latent_scale(tmp_path):
    config = {"data": {"resolution": 16, "num_samples": 24, "seed": 1}, "model": TINY_VAE,
              "optim": {"batch_size": 4, "steps": 4, "warmup_steps": 1}, "heldout_samples": 6,
              "checkpoint_every": 2, "log_every": 1}
    (tmp_path / "vae.json").write_text(json.dumps(config))
    main(["--config", str(tmp_path / "vae.json"), "--out", str(tmp_path / "run"), "--loss.kl_weight", "0.01"])
    ckpt = load_checkpoint(tmp_path / "run" / "ckpt_last.safetensors")
    cfg = VAETrainConfig.from_dict(ckpt.config["train"])
    assert ckpt.step == 4 and cfg.loss.kl_weight == 0.01 and cfg.model.in_channels == 4
    assert 0.0 <= ckpt.extra["heldout_iou"] <= 1.0 and ckpt.extra["heldout_rgb_error"] >= 0.0
    assert 0.0 <= ckpt.extra["heldout_connected"] <= 1.0
    vae = VoxelVAE(VAEConfig(**ckpt.config["vae"]))
    vae.load_state_dict(ckpt.model_state)
    means = encode_means(vae, make_synthetic_dataset(24, resolution=16, seed=1))
    shift, scale = latent_stats(means)
    assert ckpt.extra["latent_scale"].shape == (4,)
    torch.testing.assert_close(ckpt.extra["latent_scale"], scale)
    torch.testing.assert_close(ckpt.extra["latent_shift"], shift)
    torch.testing.assert_close(scale, means.transpose(0, 1).flatten(1).std(1))
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]
    assert [r["step"] for r in records if "heldout_iou" in r] == [2, 4]
    with pytest.raises(FileExistsError):
        main(["--config", str(tmp_path / "vae.json"), "--out", str(tmp_path / "run")])
    main(["--out", str(tmp_path / "run"), "--resume", "--optim.steps", "5"])
    assert load_checkpoint(tmp_path / "run" / "ckpt_last.safetensors").step == 5


def test_a_run_stopped_part_way_keeps_the_longer_schedules_learning_rate():
    long, stopped = VAEOptimConfig(steps=2400), VAEOptimConfig(steps=1200, schedule_steps=2400)
    short = VAEOptimConfig(steps=1200)
    assert [_lr(stopped, s) for s in (0, 500, 1199)] == [_lr(long, s) for s in (0, 500, 1199)]
    assert _lr(short, 1199) < _lr(stopped, 1199)  # the 1200-step schedule has decayed by then
    assert VAETrainConfig.from_dict({"optim": {"steps": 1200, "schedule_steps": 2400}}).optim == stopped
