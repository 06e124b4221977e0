"""`python -m server serve`: load one or more checkpoints and serve them until SIGINT/SIGTERM.

Prints `READY tcp://HOST:PORT model=DEFAULT classes=N models=NAME:R^3xK,... threads=N` (flushed) once warmed up, so scripts
and tests can wait for it. Binding anything but a loopback address requires --curve-dir (CurveZMQ
keys, see server.keys). IPv6 hosts work (`--host ::1`).

--threads defaults to one less than the CPU count (at least 1), leaving a core for the I/O thread
and for Blender: oversubscribed torch threads are disastrous. With a competing process on a
2-core machine, 2 torch threads ran 20x slower than 1.

Exit codes: 0 after SIGINT/SIGTERM, 1 if it cannot listen, 2 for a bad command line, address
(off loopback without keys) or checkpoint, 3 when the compute thread kept dying (more than
--max-compute-restarts times within a minute; the reason is printed): a supervisor (the add-on's
local server) restarts it.

--test-fault is for tests only: it injects a failure (see server.worker.FAULTS). Never use it otherwise.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from blender_addon.shared.protocol import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_PORT, Limits
from blender_addon.shared.server_process import default_threads
from server.app import ServerConfig, ServerError, VoxelServer, is_loopback  # noqa: F401 (re-exported)
from server.model_loading import CheckpointError, load_generator
from server.worker import FAULTS

EXIT_COMPUTE_FAILED = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m server serve", description=__doc__)
    p.add_argument("--checkpoint", type=Path, required=True, action="append",
                   help="a model to serve; repeat to serve several (the first is the default; each is named by "
                        "its checkpoint's model_name or file name)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=default_threads(),
                   help="torch CPU threads (default: CPU count - 1, at least 1; more oversubscribes)")
    p.add_argument("--curve-dir", type=Path, help="CurveZMQ keys (required off loopback)")
    p.add_argument("--max-count", type=int, default=Limits.max_count)
    p.add_argument("--max-steps", type=int, default=Limits.max_steps)
    p.add_argument("--max-resolution", type=int, default=Limits.max_resolution)
    p.add_argument("--max-queue", type=int, default=Limits.max_queue)
    p.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES)
    p.add_argument("--max-batch", type=int, default=ServerConfig.max_batch, help="samples per denoising batch")
    p.add_argument("--progress-interval", type=float, default=ServerConfig.progress_interval_s)
    p.add_argument("--max-compute-restarts", type=int, default=ServerConfig.max_compute_restarts,
                   help="compute-thread failures restarted per minute; one more exits with code 3")
    p.add_argument("--test-fault", choices=FAULTS, help="TESTS ONLY: inject a failure (off by default)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads < 1:
        print(f"error: --threads must be at least 1, got {args.threads}", file=sys.stderr)
        return 2
    limits = Limits(max_count=args.max_count, max_steps=args.max_steps, max_resolution=args.max_resolution,
                    max_queue=args.max_queue, max_message_bytes=args.max_message_bytes)
    try:
        config = ServerConfig(host=args.host, port=args.port, limits=limits, max_batch=args.max_batch,
                              progress_interval_s=args.progress_interval, curve_dir=args.curve_dir,
                              max_compute_restarts=args.max_compute_restarts, test_fault=args.test_fault)
        import torch

        torch.set_num_threads(args.threads)
        generators = [load_generator(path, args.device) for path in args.checkpoint]
    except (ServerError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = VoxelServer(generators, config)
        address = server.start()
    except (ServerError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    models = ",".join(f"{m.name}:{m.resolution}^3x{len(m.class_names)}" for m in server.info.models)
    print(f"READY {address} model={server.info.model_name} classes={len(server.info.class_names)} "
          f"models={models} threads={torch.get_num_threads()}", flush=True)
    while not stop.wait(0.1) and server.fatal is None:
        pass
    print("shutting down", flush=True)
    server.stop()
    if server.fatal is not None:
        print(f"error: {server.fatal}; exiting so that a supervisor can restart the server", file=sys.stderr,
              flush=True)
        return EXIT_COMPUTE_FAILED
    return 0
