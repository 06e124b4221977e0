"""Eager PyTorch vs TorchScript (traced + frozen) vs TorchScript with oneDNN Graph fusion, side by side.

    .venv/bin/python bench/bench_graph_modes.py [--checkpoint models/default_16.safetensors] [--threads 1]

Issue 13 asks to try torch.compile or oneDNN Graph on the CPU and keep what measures faster (torch.compile's
numbers are in the README). Each row times one network call of the bundled model the way sampling makes it:
the UNet at batch 2 (one guided step of one object) and 64 (a batched step), and the VAE decode at batch 2 (one
object: a batch of one runs as two) and 64,
all channels_last_3d in float32 (oneDNN Graph's bf16 needs native bf16), as the minimum over --repeats calls
after warm-up. The traced modules are checked against eager first (max abs difference printed); a mode that
cannot trace or run is reported, not skipped silently. The ratio column is eager time over the mode's time.
The last rows time what the pipeline does with it (models/cpu_graph.py): one object at the default settings, a
float32 generator with its small batches as oneDNN Graph traces against one with VOXD_GRAPH=off, at 1 and 2
threads (the minimum over --repeats, the two interleaved so drift on a shared machine hits both alike).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_sampling import best_seconds  # noqa: E402  (bench/ is on sys.path when run as a script)
from diffusion_core.models.cpu_graph import GRAPH_ENV  # noqa: E402
from diffusion_core.pipeline import VoxelGenerator  # noqa: E402

WARMUP_CALLS = 3  # oneDNN Graph compiles its partitions over the first profiled runs


def _traced(module: nn.Module, inputs: tuple[torch.Tensor, ...], fusion: bool) -> nn.Module:
    torch.jit.enable_onednn_fusion(fusion)
    with torch.no_grad():
        traced = torch.jit.freeze(torch.jit.trace(module.eval(), inputs, check_trace=False))
        for _ in range(WARMUP_CALLS):
            traced(*inputs)
    return traced


def _row(name: str, module: nn.Module, inputs: tuple[torch.Tensor, ...], repeats: int) -> None:
    with torch.no_grad():
        reference = module(*inputs)
        eager = best_seconds(lambda: module(*inputs), repeats)
    cells = [f"{name:<22} {eager * 1e3:>9.1f}"]
    for fusion in (False, True):
        try:
            traced = _traced(module, inputs, fusion)
            with torch.no_grad():
                diff = (traced(*inputs) - reference).abs().max().item()
                seconds = best_seconds(lambda: traced(*inputs), repeats)
            cells.append(f"{seconds * 1e3:>9.1f} {eager / seconds:>5.2f}x (diff {diff:.1e})")
        except Exception as error:  # noqa: BLE001  (report any failure of the mode in its cell)
            cells.append(f"{'failed: ' + type(error).__name__:>30}")
            print(f"  {name}: {error}".splitlines()[0][:300], file=sys.stderr)
        finally:
            torch.jit.enable_onednn_fusion(False)
    print("  ".join(cells), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="models/default_16.safetensors")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = VoxelGenerator.from_checkpoint(args.checkpoint, precision="fp32")
    unet, decoder = gen.model.model, gen._decoder.model
    cl = torch.channels_last_3d
    rows: list[tuple[str, nn.Module, Callable[[int], tuple[torch.Tensor, ...]]]] = [
        (f"UNet, batch {b}", unet,
         lambda b=b: (torch.randn(b, *gen.sample_shape).contiguous(memory_format=cl),
                      torch.full((b,), 500, dtype=torch.long), torch.zeros(b, dtype=torch.long)))
        for b in (2, 64)]
    rows += [(f"VAE decode, batch {b}", decoder,
              lambda b=b: (torch.randn(b, *gen.sample_shape).contiguous(memory_format=cl),)) for b in (2, 64)]
    print(f"{args.checkpoint}, float32, {args.threads} thread(s), ms (minimum of {args.repeats}); "
          f"ratio = eager / mode")
    print(f"{'network call':<22} {'eager':>9}  {'TorchScript frozen':>30}  {'+ oneDNN Graph fusion':>30}")
    for name, module, make_inputs in rows:
        _row(name, module, make_inputs(), args.repeats)
    _one_object(args.checkpoint, args.repeats)


def _one_object(checkpoint: str, repeats: int) -> None:
    """One object (class 7, seed 123, the default settings): eager vs the pipeline's graphs, 1 and 2 threads."""
    os.environ[GRAPH_ENV] = "off"
    eager = VoxelGenerator.from_checkpoint(checkpoint, precision="fp32")
    os.environ[GRAPH_ENV] = "on"
    graphs = VoxelGenerator.from_checkpoint(checkpoint, precision="fp32")
    print(f"\none object, default settings, float32 (ms, minimum of {repeats}, interleaved)")
    print(f"{'threads':<8} {'eager':>8} {'graphs':>8} {'speed-up':>9}")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        best = {"eager": float("inf"), "graphs": float("inf")}
        for gen in (eager, graphs):
            gen.generate([7], [123])  # warm-up: oneDNN primitives, the trace and its profiling runs
        for _ in range(repeats):
            for name, gen in (("eager", eager), ("graphs", graphs)):
                start = time.perf_counter()
                gen.generate([7], [123])
                best[name] = min(best[name], time.perf_counter() - start)
        print(f"{threads:<8} {best['eager'] * 1e3:>8.0f} {best['graphs'] * 1e3:>8.0f} "
              f"{best['eager'] / best['graphs']:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
