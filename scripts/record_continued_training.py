"""Record a bundled model's continued training in its sidecar JSON and re-make its check samples.

    .venv/bin/python scripts/record_continued_training.py --model models/detailed_32.safetensors \
        --run runs/latent_32_f4_cool --sidecar models/detailed_32.json --png models/detailed_32_samples.png \
        --loss-png docs/images/loss_latent_32_continued.png --commands "..." --threads 2 [--note TEXT]

The sidecar (written by describe_default_model.py for the first run) keeps its record of the VAE and the first
diffusion run, and its list `continued_training` gains a stage (in the order trained): the run's config, commands,
steps, samples seen, its training-step time (summed from metrics.jsonl: log_every x batch / samples_per_s per line,
so idle time between sessions is not counted), final loss and hardware; `size_bytes` and `check_samples` are re-made
from the model file.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from describe_default_model import check_samples, cpu_name, run_metrics
from diffusion_core.evaluation.render import plot_loss_curve
from diffusion_core.models.checkpoint import load_checkpoint
from diffusion_core.pipeline import VoxelGenerator


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--run", type=Path, required=True, help="the continued run's directory")
    p.add_argument("--sidecar", type=Path, required=True)
    p.add_argument("--png", type=Path, required=True)
    p.add_argument("--loss-png", type=Path, required=True)
    p.add_argument("--commands", nargs="+", required=True)
    p.add_argument("--threads", type=int, required=True, help="torch threads the training ran with")
    p.add_argument("--note", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    config = json.loads((args.run / "config.json").read_text())
    step = load_checkpoint(args.model).step
    lines = [m for m in run_metrics(args.run) if "loss" in m and m["step"] <= step]
    per_line = config["log_every"] * config["optim"]["batch_size"]
    plot_loss_curve([m["step"] for m in lines], [m["loss"] for m in lines], args.loss_png,
                    title=f"{args.run.name}: training loss")
    card = json.loads(args.sidecar.read_text())
    card["size_bytes"] = args.model.stat().st_size
    card["check_samples"] = check_samples(VoxelGenerator.from_checkpoint(args.model), args.png)
    card.setdefault("continued_training", []).append({
        "config": config, "commands": args.commands, "steps": step,
        "samples_seen": step * config["optim"]["batch_size"],
        "training_step_s": round(sum(per_line / m["samples_per_s"] for m in lines)),
        "final_loss": round(sum(m["loss"] for m in lines[-10:]) / len(lines[-10:]), 5),
        "hardware": {"cpu": cpu_name(), "torch_threads": args.threads, "gpu": None, "torch": torch.__version__},
        **({"note": args.note} if args.note else {})})
    args.sidecar.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({k: card[k] for k in ("size_bytes", "check_samples")}))


if __name__ == "__main__":
    main()
