"""Load: N concurrent clients (default 50) each submitting small jobs back to back against a real
`serve` process, plus one client pinging throughout. Reports job throughput, p50/p99 ping round
trip under that load, how many jobs were refused or failed, and the server's peak RSS (VmHWM).

    .venv/bin/python bench/bench_load.py --checkpoint models/default_16.safetensors [--clients 50 \\
        --duration 20 --steps 5 --threads 1]

Each client is a thread with its own VoxelClient (its own DEALER socket and routing id); they wait in
ZeroMQ polls, so the GIL of this process is not what is measured. A `queue_full` refusal is retried
after a short pause and counted.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blender_addon.shared import protocol as p  # noqa: E402
from blender_addon.shared.client import ClientError, JobFailed, VoxelClient  # noqa: E402
from server.launch import ServerProcess  # noqa: E402


def _proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Tally:
    """Counts shared by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = self.refused = self.failed = self.samples = 0

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


def client_loop(port: int, index: int, args: argparse.Namespace, stop: threading.Event, tally: Tally) -> None:
    with VoxelClient("127.0.0.1", port, timeout_s=10, name=f"load-{index}") as client:
        seed = index * 1_000_000
        while not stop.is_set():
            request = p.GenerateRequest(class_label=index % len(client.info.class_names), seed=seed,
                                        count=args.count, steps=args.steps)
            seed += args.count
            try:
                client.submit(request).result(timeout_s=120)
                tally.add(done=1, samples=args.count)
            except JobFailed as e:
                tally.add(refused=1) if e.code == p.QUEUE_FULL else tally.add(failed=1)
                time.sleep(0.05)
            except (ClientError, TimeoutError):
                tally.add(failed=1)


def ping_loop(port: int, stop: threading.Event, rtts: list[float]) -> None:
    with VoxelClient("127.0.0.1", port, timeout_s=10, name="pinger") as client:
        while not stop.is_set():
            rtts.append(client.ping())
            time.sleep(0.02)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="the server's torch threads")
    args = ap.parse_args()
    with ServerProcess(args.checkpoint, threads=args.threads) as served:
        rss_idle = _proc_kib(served.pid, "VmRSS") / 1024
        stop, tally, rtts = threading.Event(), Tally(), []
        threads = [threading.Thread(target=client_loop, args=(served.port, i, args, stop, tally), daemon=True)
                   for i in range(args.clients)]
        threads.append(threading.Thread(target=ping_loop, args=(served.port, stop, rtts), daemon=True))
        start = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(args.duration)
        stop.set()
        for t in threads:
            t.join(60)
        elapsed = time.monotonic() - start
        peak = _proc_kib(served.pid, "VmHWM") / 1024
    rtts.sort()
    q = statistics.quantiles(rtts, n=100)
    print(f"{args.clients} clients x (count {args.count}, {args.steps} steps) for {elapsed:.1f} s, "
          f"server on {args.threads} torch thread(s)")
    print(f"throughput: {tally.done / elapsed:.1f} jobs/s ({tally.samples / elapsed:.1f} samples/s); "
          f"{tally.done} done, {tally.refused} refused (queue_full), {tally.failed} failed")
    print(f"ping under load: p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {rtts[-1] * 1000:.1f} ms "
          f"({len(rtts)} pings)")
    print(f"server RSS: {rss_idle:.0f} MiB idle, peak {peak:.0f} MiB")


if __name__ == "__main__":
    main()
