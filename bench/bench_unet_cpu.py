"""Time UNet3D forward passes on CPU: batch 1 vs 2, contiguous vs channels_last_3d.

    .venv/bin/python bench/bench_unet_cpu.py                      # DEFAULT_UNET_16
    .venv/bin/python bench/bench_unet_cpu.py --base-channels 24 --threads 2 --repeats 5

Each cell is the minimum over ``--repeats`` interleaved rounds of the mean over ``--iters`` forwards (the
machine is shared, so the minimum is the most honest estimate). ``steps`` projects one guided sample (batch-2
forward) over a DDIM run of that many steps.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from diffusion_core.data.shapes import CLASS_NAMES  # noqa: E402
from diffusion_core.models.unet import DEFAULT_UNET_16, UNet3D  # noqa: E402


CASES = (("1 (raw)", 1, False), ("1 (padded to 2)", 1, True), ("2", 2, True))


def time_cells(model: UNet3D, iters: int, repeats: int) -> dict[tuple[str, bool], float]:
    """ms per forward for every (case, channels_last) cell: min over rounds of the mean over ``iters``.

    Rounds interleave the cells so that every cell gets the same chance of a quiet moment on a shared CPU.
    """
    cfg = model.cfg
    models = {False: model, True: copy.deepcopy(model).to(memory_format=torch.channels_last_3d)}
    best: dict[tuple[str, bool], float] = {}
    with torch.inference_mode():
        for round_ in range(repeats + 1):  # round 0 warms up (oneDNN primitive creation)
            for name, batch, pad in CASES:
                for channels_last, net in models.items():
                    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
                    x = torch.randn(batch, cfg.in_channels, *(cfg.resolution,) * 3).to(memory_format=fmt)
                    t, y = torch.randint(0, 1000, (batch,)), torch.zeros(batch, dtype=torch.long)
                    net.pad_cpu_batch_of_one = pad
                    start = time.perf_counter()
                    for _ in range(iters):
                        net(x, t, y)
                    ms = (time.perf_counter() - start) / iters * 1000
                    if round_:
                        best[name, channels_last] = min(best.get((name, channels_last), float("inf")), ms)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-channels", type=int, default=DEFAULT_UNET_16.base_channels)
    parser.add_argument("--channel-mults", type=int, nargs="+", default=list(DEFAULT_UNET_16.channel_mults))
    parser.add_argument("--num-res-blocks", type=int, default=DEFAULT_UNET_16.num_res_blocks)
    parser.add_argument(
        "--attention-resolutions", type=int, nargs="*", default=list(DEFAULT_UNET_16.attention_resolutions)
    )
    parser.add_argument("--resolution", type=int, default=DEFAULT_UNET_16.resolution)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = dataclasses.replace(
        DEFAULT_UNET_16,
        base_channels=args.base_channels,
        channel_mults=tuple(args.channel_mults),
        num_res_blocks=args.num_res_blocks,
        attention_resolutions=tuple(args.attention_resolutions),
        resolution=args.resolution,
        num_classes=len(CLASS_NAMES),
    )
    model = UNet3D(cfg).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"{cfg}\n{params:.2f} M parameters, {args.threads} threads, {args.resolution}^3")
    best = time_cells(model, args.iters, args.repeats)
    print(f"{'batch':<16} {'contiguous ms':>14} {'channels_last ms':>17} {'contig/CL':>10}")
    for name, _, _ in CASES:
        contig, cl = best[name, False], best[name, True]
        print(f"{name:<16} {contig:>14.1f} {cl:>17.1f} {contig / cl:>10.2f}")
    (c1, l1), (c2, l2) = (best["1 (raw)", False], best["1 (raw)", True]), (best["2", False], best["2", True])
    print(f"time ratio batch 2 / raw batch 1: contiguous {c2 / c1:.2f}, channels_last {l2 / l1:.2f}")
    print(f"one guided sample ({args.steps} steps x batch-2 forward, channels_last): {l2 * args.steps / 1000:.2f} s")


if __name__ == "__main__":
    main()
