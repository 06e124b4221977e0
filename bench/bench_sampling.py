"""Sampling speed, old path vs new, side by side, and the achieved GFLOP/s against this CPU's measured peak.

    .venv/bin/python bench/bench_sampling.py             # ~5 minutes on a 2-core CPU
    .venv/bin/python bench/bench_sampling.py --quick     # smoke test: small batch, one repeat

old: 25 DDPM steps, float32, the VAE decoding one latent at a time (batch 1: PyTorch's slow_conv3d).
new: the default sampler and steps (blender_addon.shared.protocol), bf16 autocast where the CPU has native bf16
     (VoxelGenerator's "auto"), the whole batch decoded in one oneDNN call.
Rows: one object's latency at 1 and 2 threads; the per-object time at batch 64; the UNet forward at batch 2
(one guided step), 32 and 64 and the VAE decode, in GFLOP/s and as a fraction of the peak measured here in the
same precision: the best of square matmuls (512^3, 1024^3, 2048^3; on a 1 MiB-L2 core the large ones run
slower than the small) and of one large Conv3d of the UNet's own kind (64 -> 64 channels, 3^3, 8^3, batch
32, channels_last_3d), which oneDNN runs faster than any matmul here. FLOPs are counted by torch.utils.flop_counter.FlopCounterMode: 2 per
multiply-add of every convolution, matmul and attention product (GroupNorm, SiLU and other elementwise ops are
not counted: they are memory-bound). Times are the minimum over --repeats runs (the machine may be shared).
The last table lists the ops that dominate a new-path sample (torch.profiler, self CPU time).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.profiler import profile
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from blender_addon.shared.settings import DEFAULT_SAMPLER, DEFAULT_STEPS  # noqa: E402
from diffusion_core.pipeline import VoxelGenerator  # noqa: E402

OLD_SAMPLER, OLD_STEPS = "ddpm", 25


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Minimum wall time of fn() over `repeats` calls, after one warm-up call (oneDNN primitive creation)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def old_generate(gen: VoxelGenerator, labels: list[int], seeds: list[int]) -> np.ndarray:
    """The path before this benchmark's change: 25 DDPM steps, then one VAE decode per latent at batch 1."""
    last = None
    for last in gen.generate_progressive(labels, seeds, steps=OLD_STEPS, sampler=OLD_SAMPLER):
        pass
    with torch.inference_mode():
        x = torch.cat([gen.codec.decode(z[None]) for z in last.x_t])
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0).numpy()


def dense_peaks(dtype: torch.dtype, repeats: int) -> dict[str, float]:
    """GFLOP/s of square matmuls (2 n^3 FLOPs) and of a large Conv3d (2 * MACs) in `dtype` (bf16: autocast)."""
    peaks = {}
    for n in (512, 1024, 2048):
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        peaks[f"matmul {n}^3"] = 2 * n**3 / best_seconds(lambda: a @ b, repeats) / 1e9
    conv = torch.nn.Conv3d(64, 64, 3, padding=1).to(memory_format=torch.channels_last_3d)
    x = torch.randn(32, 64, 8, 8, 8).contiguous(memory_format=torch.channels_last_3d)
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=dtype == torch.bfloat16):
        seconds = best_seconds(lambda: conv(x), repeats)
    peaks["conv3d 64ch 8^3 b32"] = 2 * 32 * 64 * 64 * 27 * 8**3 / seconds / 1e9
    return peaks


def count_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        fn()
    return counter.get_total_flops()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="models/default_16.safetensors")
    parser.add_argument("--sampler", default=DEFAULT_SAMPLER, help="the new path's sampler")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="the new path's steps")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="batch 8, one repeat: checks that everything runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.repeats = 8, 1

    old = VoxelGenerator.from_checkpoint(args.checkpoint, precision="fp32")
    new = VoxelGenerator.from_checkpoint(args.checkpoint)  # "auto" unless VOXD_PRECISION says otherwise
    new_name = f"{args.steps} {args.sampler} steps, {'bf16' if new.bf16 else 'fp32'}, batched decode"
    print(f"old: {OLD_STEPS} {OLD_SAMPLER} steps, fp32, per-object decode | new: {new_name}")
    print(f"CPU: {torch.cpu.get_capabilities().get('cpu_name')}, native bf16: {new.bf16 or 'no'}; torch {torch.__version__}")
    run_old = lambda labels, seeds: old_generate(old, labels, seeds)  # noqa: E731
    run_new = lambda labels, seeds: new.generate(labels, seeds, steps=args.steps, sampler=args.sampler)  # noqa: E731
    labels = [i % len(new.class_names) for i in range(args.batch)]
    seeds = list(range(args.batch))

    print(f"\n{'what':<34} {'threads':>7} {'old ms':>9} {'new ms':>9} {'speed-up':>9}")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for what, n, reps in (("one object", 1, args.repeats), (f"per object at batch {args.batch}", args.batch, 1)):
            t_old, t_new = (best_seconds(lambda run=run: run(labels[:n], seeds[:n]), reps) / n * 1e3
                            for run in (run_old, run_new))
            print(f"{what:<34} {threads:>7} {t_old:>9.1f} {t_new:>9.1f} {t_old / t_new:>8.2f}x")

    torch.set_num_threads(1)
    peaks = {}
    print("\ndense peaks measured here, 1 thread, GFLOP/s:")
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        cells = dense_peaks(dtype, max(args.repeats, 3))
        peaks[name] = max(cells.values())
        print(f"  {name}: " + ", ".join(f"{k} {v:.0f}" for k, v in cells.items()) + f" -> peak {peaks[name]:.0f}")
    print(f"{'network call (1 thread)':<34} {'GFLOP':>7} {'fp32 ms':>9} {'GFLOP/s':>8} {'of peak':>8} "
          f"{'bf16 ms':>9} {'GFLOP/s':>8} {'of peak':>8}")
    gens = {"fp32": old, "bf16": VoxelGenerator.from_checkpoint(args.checkpoint, precision="bf16")}
    for what, batch in (("UNet, batch 2 (one guided step)", 2), ("UNet, batch 32", 32), ("UNet, batch 64", 64)):
        x, t, y = torch.randn(batch, *new.sample_shape), torch.full((batch,), 500), torch.arange(batch) % 16
        cells = {name: (lambda g=g: g.model(x, t, y=y)) for name, g in gens.items()}
        print_flop_row(what, cells, peaks, args.repeats)
    z = torch.randn(args.batch, *new.sample_shape)
    cells = {name: (lambda g=g: g.to_voxels(z)) for name, g in gens.items()}
    print_flop_row(f"VAE decode, batch {args.batch} (per object)", cells, peaks, args.repeats, per=args.batch)
    cells = {"fp32": lambda: old.codec.decode(z[:1])}
    print_flop_row("VAE decode, batch 1, old (slow_conv3d)", cells, peaks, args.repeats)

    torch.set_num_threads(2)
    with profile() as prof, torch.inference_mode():
        run_new(labels[:1], seeds[:1])
    print(f"\nwhere a new-path object's time goes (2 threads, torch.profiler, self CPU time):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))


def print_flop_row(what: str, cells: dict[str, Callable[[], object]], peaks: dict[str, float], repeats: int,
                   per: int = 1) -> None:
    """One table row: GFLOP per call (/ per), then ms, GFLOP/s and fraction of that precision's peak per cell."""
    flops = count_flops(next(iter(cells.values())))
    row = f"{what:<34} {flops / per / 1e9:>7.3f}"
    for name in ("fp32", "bf16"):
        if name not in cells:
            continue
        with torch.inference_mode():
            seconds = best_seconds(cells[name], repeats)
        rate = flops / seconds / 1e9
        row += f" {seconds / per * 1e3:>9.2f} {rate:>8.1f} {rate / peaks[name]:>7.0%}"
    print(row)


if __name__ == "__main__":
    main()
