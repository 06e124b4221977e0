"""`python -m diffusion_core eval`: score a checkpoint's samples against held-out synthetic references.

    python -m diffusion_core eval --checkpoint CKPT --classifier models/classifier_16.safetensors \\
        --n-per-class 16 --out eval_out   # the panel's default sampling settings
writes eval_out/report.md, report.json and gallery.png: the quality bars (met / not met), shape metrics and
colour fidelity (flatness, colour regions, hue histograms, saturation and value) against the data, each with
its ref-vs-ref baseline. With --sweep it instead writes sweep.json and sweep.png: accuracy, 1-NNA and
connectivity versus --sweep-steps (SAMPLER:STEPS list) at --guidance, and versus --sweep-guidance at
--sampler/--steps. Train the classifier with `python -m diffusion_core train-classifier`.
Metric definitions: diffusion_core/metrics.py, colour_metrics.py; the bars: quality_bars.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blender_addon.shared.settings import SAMPLERS, SPACINGS
from blender_addon.shared.sampling_args import add_sampling_arguments


def _sampler_steps(text: str) -> tuple[tuple[str, int], ...]:
    """'ddim:10,ddpm:1000' -> (('ddim', 10), ('ddpm', 1000))."""
    points = []
    for item in text.split(","):
        sampler, _, steps = item.strip().partition(":")
        if sampler not in SAMPLERS or not steps.isdigit() or int(steps) < 1:
            raise argparse.ArgumentTypeError(f"expected SAMPLER:STEPS with SAMPLER in {SAMPLERS}, got {item!r}")
        points.append((sampler, int(steps)))
    return tuple(points)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m diffusion_core eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--classifier", type=Path, required=True, help="from `python -m diffusion_core train-classifier`")
    p.add_argument("--n-per-class", type=int, default=16)
    add_sampling_arguments(p)
    p.add_argument("--seed", type=int, default=0, help="first sample seed (sample i gets seed + i)")
    p.add_argument("--reference-seed", type=int, default=None,
                   help="synthetic reference seed (default: the training data seed + 1)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--size-shapes", type=int, default=1024,
                   help="data shapes per class whose mean occupied voxels the size bar divides by (the reference "
                        "set's N per class are too few for a precise mean)")
    p.add_argument("--gallery-columns", type=int, default=6, help="samples per class in gallery.png (0: no gallery)")
    p.add_argument("--sweep", action="store_true", help="sweep steps and guidance instead of one report")
    p.add_argument("--sweep-steps", type=_sampler_steps, default="ddim:10,ddim:25,ddim:50,ddim:100,ddpm:1000")
    p.add_argument("--sweep-guidance", type=_floats, default="1,2,3,5")
    p.add_argument("--clip-x0", type=float, default=None,
                   help="clip x0 predictions at +-this (default: the checkpoint's diffusion.clip_x0, see README)")
    p.add_argument("--reencode", type=int, default=None,
                   help="a latent model's decode-encode round trips before the last decode (default: the "
                        "checkpoint's; README \"Re-encoding the sampled latents\")")
    p.add_argument("--spacing", choices=SPACINGS, default="trailing",
                   help="how the steps spread over the timeline: evenly in t (trailing, what every model samples "
                        "with) or in log-SNR (README \"Steps spread evenly in log-SNR (tried)\")")
    p.add_argument("--guidance-interval", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="guide only the steps whose noise level sigma is in (LOW, HIGH] (default: every step; "
                        "README \"Guidance only in the middle of the timeline\")")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", type=Path, default=Path("eval_out"))
    args = p.parse_args(argv)
    if args.n_per_class < 1:
        p.error("--n-per-class must be >= 1")
    for name in ("checkpoint", "classifier"):
        if not getattr(args, name).is_file():
            p.error(f"--{name} {getattr(args, name)} does not exist")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from diffusion_core.evaluation.evaluate import EvalSettings, SweepSettings, evaluate, sweep

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        settings = EvalSettings(n_per_class=args.n_per_class, steps=args.steps, sampler=args.sampler, eta=args.eta,
                                guidance=args.guidance, alpha_threshold=args.alpha_threshold, join_parts=args.join_parts,
                                seed=args.seed, clip_x0=args.clip_x0, reencode=args.reencode, spacing=args.spacing,
                                guidance_interval=None if args.guidance_interval is None else tuple(args.guidance_interval),
                                reference_seed=args.reference_seed, batch_size=args.batch_size,
                                gallery_columns=args.gallery_columns, size_shapes=args.size_shapes)
        if args.sweep:
            sweep(args.checkpoint, args.classifier, args.out, settings,
                  SweepSettings(samplers_steps=args.sweep_steps, guidances=args.sweep_guidance))
            print(args.out / "sweep.json")
            print(args.out / "sweep.png")
        else:
            evaluate(args.checkpoint, args.classifier, args.out, settings)
            print((args.out / "report.md").read_text())
            for name in ("report.json", "report.md") + (("gallery.png",) if args.gallery_columns else ()):
                print(args.out / name)
    except ValueError as e:  # bad settings for this checkpoint (steps, classes, resolution): one clear line
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
