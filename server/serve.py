"""`python -m server serve`: load a checkpoint and serve it until SIGINT/SIGTERM.

Prints `READY tcp://HOST:PORT` (flushed) once warmed up, so scripts and tests can wait for it.
Binding anything but a loopback address requires --curve-dir (CurveZMQ keys, see server.keys).
"""
from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
import threading
from pathlib import Path

from blender_addon.protocol import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_PORT, Limits
from server.app import ServerConfig, ServerError, VoxelServer


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m server serve", description=__doc__)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--curve-dir", type=Path, help="CurveZMQ keys (required off loopback)")
    p.add_argument("--max-count", type=int, default=Limits.max_count)
    p.add_argument("--max-steps", type=int, default=Limits.max_steps)
    p.add_argument("--max-resolution", type=int, default=Limits.max_resolution)
    p.add_argument("--max-queue", type=int, default=Limits.max_queue)
    p.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES)
    p.add_argument("--max-batch", type=int, default=ServerConfig.max_batch, help="samples per denoising batch")
    p.add_argument("--progress-interval", type=float, default=ServerConfig.progress_interval_s)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not is_loopback(args.host) and args.curve_dir is None:
        print(f"error: refusing to listen on {args.host} without encryption. Off loopback the server needs "
              "CurveZMQ keys: create them with `python -m server keys --curve-dir KEYS --client NAME` and "
              "pass --curve-dir KEYS (or bind 127.0.0.1).", file=sys.stderr)
        return 2
    import torch

    from diffusion_core.pipeline import VoxelGenerator

    if args.threads:
        torch.set_num_threads(args.threads)
    limits = Limits(max_count=args.max_count, max_steps=args.max_steps, max_resolution=args.max_resolution,
                    max_queue=args.max_queue, max_message_bytes=args.max_message_bytes)
    config = ServerConfig(host=args.host, port=args.port, limits=limits, max_batch=args.max_batch,
                          progress_interval_s=args.progress_interval, curve_dir=args.curve_dir)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = VoxelServer(VoxelGenerator.from_checkpoint(args.checkpoint, device=args.device), config)
        address = server.start()
    except (ServerError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"READY {address} model={server.info.model_name} classes={len(server.info.class_names)}", flush=True)
    while not stop.wait(0.5):
        pass
    print("shutting down", flush=True)
    server.stop()
    return 0
