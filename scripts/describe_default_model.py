"""Write the sidecar JSON of a bundled latent model, a PNG of one sample per class and its loss curve.

    python scripts/describe_default_model.py --model models/default_16.safetensors \
        --vae-run runs/vae_16_f2 --latent-run runs/latent_16_f2 --out models/default_16.json \
        --png models/default_16_samples.png --loss-png docs/images/loss_latent_16.png \
        --commands "..." --wall VAE_S LATENT_S --threads N [--wall-note TEXT]
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import torch

from blender_addon.shared.settings import DEFAULT_ALPHA_THRESHOLD, DEFAULT_GUIDANCE, DEFAULT_SAMPLER, DEFAULT_STEPS
from diffusion_core.models.checkpoint import load_checkpoint
from diffusion_core.pipeline import VoxelGenerator
from diffusion_core.evaluation.render import plot_loss_curve, render_voxel_grid_png
from diffusion_core.models.vae import VAEConfig, VoxelVAE
from diffusion_core.training.vae_trainer import VAETrainConfig, evaluate, heldout_set


def run_metrics(run: Path) -> list[dict]:
    """The training run's metrics.jsonl, one dict per line (loss lines and eval lines)."""
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def cpu_name() -> str:
    """This machine's CPU model name (lscpu), for the hardware record."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def _vae_scores(ckpt) -> dict[str, float]:
    """Held-out scores of the VAE, recomputed (older checkpoints lack heldout_connected)."""
    vae = VoxelVAE(VAEConfig(**ckpt.config["vae"]))
    vae.load_state_dict(ckpt.model_state)
    return evaluate(vae, heldout_set(VAETrainConfig.from_dict(ckpt.config["train"])))


def check_samples(gen: VoxelGenerator, png: Path) -> dict:
    """Sample seed k of class k at the default settings, render them to `png`; -> the sidecar's record of it."""
    n = len(gen.class_names)
    t0 = time.perf_counter()
    voxels = gen.generate(list(range(n)), list(range(n)), steps=DEFAULT_STEPS, sampler=DEFAULT_SAMPLER,
                          guidance=DEFAULT_GUIDANCE)
    sample_s = time.perf_counter() - t0
    render_voxel_grid_png(voxels, png, titles=gen.class_names, threshold=DEFAULT_ALPHA_THRESHOLD)
    return {"png": png.name, "steps": DEFAULT_STEPS, "sampler": DEFAULT_SAMPLER, "guidance": DEFAULT_GUIDANCE,
            "seeds": list(range(n)), "wall_s": round(sample_s, 2), "clip_x0": gen.clip_x0,
            f"occupied_voxels_at_{DEFAULT_ALPHA_THRESHOLD}":
                [int(v) for v in (voxels[:, -1] >= DEFAULT_ALPHA_THRESHOLD).sum((1, 2, 3))]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--vae-run", type=Path, required=True)
    p.add_argument("--latent-run", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--png", type=Path, required=True)
    p.add_argument("--loss-png", type=Path, required=True, help="the diffusion run's loss up to the model's step")
    p.add_argument("--commands", nargs="+", required=True)
    p.add_argument("--wall", nargs=2, type=float, metavar=("VAE_S", "LATENT_S"), required=True)
    p.add_argument("--threads", type=int, required=True, help="torch threads the training ran with")
    p.add_argument("--wall-note", default=None, help="how the diffusion wall time splits (runs resumed in pieces)")
    args = p.parse_args()
    torch.set_num_threads(1)

    vae = load_checkpoint(args.vae_run / "ckpt_last.safetensors")
    vae_scores = _vae_scores(vae)
    latent = load_checkpoint(args.model)
    latent_metrics = [m for m in run_metrics(args.latent_run) if "loss" in m and m["step"] <= latent.step]
    gen = VoxelGenerator.from_checkpoint(args.model)
    latent_ch, latent_res = gen.sample_shape[0], gen.sample_shape[1]
    plot_loss_curve([m["step"] for m in latent_metrics], [m["loss"] for m in latent_metrics], args.loss_png)
    card = {
        "model": args.model.name,
        "size_bytes": args.model.stat().st_size,
        "kind": "latent diffusion: class-conditional UNet3D on VoxelVAE latents "
                f"({gen.resolution}^3x{gen.channels} -> {latent_res}^3x{latent_ch})",
        "class_names": gen.class_names,
        "commands": args.commands,
        "hardware": {"cpu": cpu_name(), "torch_threads": args.threads, "gpu": None, "torch": torch.__version__},
        "vae": {"config": vae.config["train"], "steps": vae.step, "wall_s": round(args.wall[0]),
                **{k: round(v, 4) for k, v in vae_scores.items()},
                "latent_scale": [round(v, 4) for v in vae.extra["latent_scale"].tolist()]},
        "diffusion": {"config": latent.config["train"], "steps": latent.step,
                      "samples_seen": latent.step * latent.config["train"]["optim"]["batch_size"],
                      "wall_s": round(args.wall[1]), **({"wall_note": args.wall_note} if args.wall_note else {}),
                      "final_loss": round(latent_metrics[-1]["loss"], 5) if latent_metrics else None,
                      "samples_per_s": round(latent_metrics[-1]["samples_per_s"], 1) if latent_metrics else None},
        "check_samples": check_samples(gen, args.png),
    }
    args.out.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({k: card[k] for k in ("size_bytes", "check_samples")}))


if __name__ == "__main__":
    main()
