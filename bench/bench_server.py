"""Server overhead: end-to-end time through the server vs in-process generation, and the cost of
moving a count-4 result of 32^3 RGBA grids ([4, 4, 32, 32, 32] float32, 2 MiB) across the socket
(encode + send + recv + decode). Medians.

    .venv/bin/python bench/bench_server.py --checkpoint CKPT [--steps 25 --count 2 --repeats 5]

Without --checkpoint it builds an untrained 16^3 model (timings only; outputs are noise).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blender_addon.shared import protocol as p  # noqa: E402
from blender_addon.shared.client import VoxelClient  # noqa: E402
from diffusion_core.pipeline import VoxelGenerator  # noqa: E402
from server.app import ServerConfig, VoxelServer  # noqa: E402


def untrained_checkpoint(directory: Path) -> Path:
    from diffusion_core.models.checkpoint import save_checkpoint
    from diffusion_core.diffusion.gaussian import DiffusionConfig
    from dataclasses import replace

    from diffusion_core.models.unet import DEFAULT_UNET_16, UNet3D

    unet = replace(DEFAULT_UNET_16, num_classes=2)
    path = directory / "bench.safetensors"
    save_checkpoint(path, model_state=UNet3D(unet).state_dict(), class_names=["a", "b"], step=0,
                    config={"unet": asdict(unet), "diffusion": asdict(DiffusionConfig()), "data": {}})
    return path


TRANSFER_SHAPE = (4, 4, 32, 32, 32)  # four 32^3 RGBA grids: one count-4 result


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def transfer_time(repeats: int) -> float:
    grid = np.random.default_rng(0).random(TRANSFER_SHAPE, dtype=np.float32)
    body = p.GenerateResult("a", tuple(range(TRANSFER_SHAPE[0])), grid)
    with zmq.Context() as ctx:
        a, b = ctx.socket(zmq.DEALER), ctx.socket(zmq.ROUTER)
        port = b.bind_to_random_port("tcp://127.0.0.1")
        a.connect(f"tcp://127.0.0.1:{port}")

        def once():
            a.send_multipart(p.encode(p.Message(body)), copy=False)
            frames = b.recv_multipart(copy=False)
            assert p.decode(frames[1:]).body.voxels.shape == grid.shape

        once()
        t = median_time(once, repeats)
        a.close(0)
        b.close(0)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--count", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or untrained_checkpoint(Path(tmp))
        gen = VoxelGenerator.from_checkpoint(ckpt)
        request = p.GenerateRequest(class_label=0, count=args.count, steps=args.steps)
        labels, seeds = [0] * args.count, request.seeds
        server = VoxelServer(gen, ServerConfig(port=0))
        address = server.start()  # includes a warm-up generation
        try:
            with VoxelClient("127.0.0.1", int(address.rsplit(":", 1)[1]), timeout_s=30) as client:
                local, remote = [], []
                for _ in range(args.repeats):  # interleaved, so load from other processes hits both alike
                    local.append(median_time(lambda: gen.generate(labels, seeds, steps=args.steps), 1))
                    remote.append(median_time(lambda: client.submit(request).result(), 1))
        finally:
            server.stop()
    local, remote = statistics.median(local), statistics.median(remote)
    r = gen.resolution
    print(f"model {gen.model_name} {r}^3, count={args.count}, steps={args.steps}, torch threads={args.threads}")
    print(f"in-process generate: {local * 1000:.1f} ms   through server: {remote * 1000:.1f} ms   "
          f"ratio {remote / local:.3f}")
    mib = np.prod(TRANSFER_SHAPE) * 4 / 2**20
    print(f"count-4 result, four 32^3 RGBA float32 grids {list(TRANSFER_SHAPE)} ({mib:g} MiB) "
          f"encode+send+recv+decode: {transfer_time(max(20, args.repeats)) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
