"""Fair and bounded under load: a greedy client cannot lock others out of the queue, batches still
mix clients, and a client that submits without ever reading keeps the server's memory bounded."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import zmq

from blender_addon.shared import protocol as p
from blender_addon.shared.client import VoxelClient
from server.launch import ServerProcess

from .conftest import port_of

MEMORY_BOUND_MIB = 48  # server RSS growth allowed while a slow consumer floods it (README "Failure behaviour")


def _raw_dealer(ctx: zmq.Context, address: str, **options) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    for name, value in options.items():
        setattr(sock, name, value)
    sock.connect(address)
    return sock


def _generate(**fields) -> list[bytes]:
    return [bytes(f) for f in p.encode(p.Message(p.GenerateRequest(**fields)))]


def _replies(sock: zmq.Socket, timeout_ms: int = 500) -> list[p.Message]:
    out = []
    while sock.poll(timeout_ms):
        out.append(p.decode(sock.recv_multipart()))
        timeout_ms = 50
    return out


def _answers(sock: zmq.Socket, n: int, timeout_s: float = 20) -> list[p.Message]:
    """The first reply (accepted or error) to each of n requests, however slowly a loaded server sends them;
    other messages (progress, results) that arrive meanwhile are dropped."""
    out: list[p.Message] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n:
        assert sock.poll(max(0, int((deadline - time.monotonic()) * 1000))), f"{len(out)} of {n} answered"
        message = p.decode(sock.recv_multipart())
        if message.type in ("accepted", "error"):
            out.append(message)
    return out


def test_a_greedy_client_cannot_lock_others_out_of_the_queue(make_server, monkeypatch):
    server = make_server(max_batch=8)  # max_queue 8 (conftest)
    gate, gated, real_next = threading.Event(), threading.Event(), server.queue.next_batch

    def gated_next(timeout):  # nothing runs until the polite client is in: the queue cannot drain meanwhile
        gated.set()
        return real_next(timeout) if gate.wait(timeout) else []

    monkeypatch.setattr(server.queue, "next_batch", gated_next)
    assert gated.wait(10)  # the compute thread has left the unpatched call it was waiting in
    ctx = zmq.Context.instance()
    greedy = _raw_dealer(ctx, server.address)
    try:
        for seed in range(40):  # far more than the whole queue, never waiting
            greedy.send_multipart(_generate(steps=50, seed=seed))
        first = _answers(greedy, 40)
        accepted = [m.parent_id for m in first if m.type == "accepted"]
        refused = [m for m in first if m.type == "error"]
        assert len(accepted) == 8  # all 8 queue slots while alone
        assert len(refused) == 32 and all(m.body.code == p.QUEUE_FULL for m in refused)
        with VoxelClient("127.0.0.1", port_of(server.address), timeout_s=5) as polite:
            job = polite.submit(p.GenerateRequest(steps=2, seed=7))
            deadline = time.monotonic() + 10
            while job.queue_position is None:  # accepted into the full queue, before anything runs
                assert not job.done and time.monotonic() < deadline, job.terminal
                polite.poll(50)
            gate.set()
            assert job.result(timeout_s=30).seeds == (7,)  # and run
        evicted = [m for m in _replies(greedy, 2000) if m.type == "error" and m.parent_id in accepted]
        assert evicted and evicted[0].body.code == p.QUEUE_FULL and "fair share" in evicted[0].body.message
    finally:
        gate.set()
        greedy.close()


def _wait_for_queue(server, jobs: int) -> None:
    """Until the server holds `jobs` jobs (running and queued), for at most 10 s."""
    deadline = time.monotonic() + 10
    while len(server.queue) < jobs:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_batches_take_compatible_jobs_from_every_client_in_turn(make_server, monkeypatch):
    server = make_server(max_batch=4, limits=p.Limits(max_count=4, max_steps=1000, max_queue=16))
    batches, real_next = [], server.queue.next_batch

    def recording_next(timeout):
        batch = real_next(timeout)
        if batch:
            batches.append([j.request.seed for j in batch])
        return batch

    monkeypatch.setattr(server.queue, "next_batch", recording_next)
    a, b = (VoxelClient("127.0.0.1", port_of(server.address), timeout_s=5) for _ in range(2))
    try:
        a.hello(), b.hello()
        blocker = a.submit(p.GenerateRequest(steps=1000, seed=99))
        next(blocker.progress(timeout_s=30))  # running: the others queue behind it
        # a's six are queued before b sends: ZeroMQ fair-queues between two clients' pending messages
        jobs = [a.submit(p.GenerateRequest(steps=3, seed=s)) for s in range(6)]
        _wait_for_queue(server, 7)
        jobs += [b.submit(p.GenerateRequest(steps=3, seed=s)) for s in (100, 101)]
        _wait_for_queue(server, 9)
        blocker.cancel()
        for job in jobs:
            job.result(timeout_s=30)
        # 8 compatible jobs, 4 samples per batch: b's two ride in the first batch (alternating with a's),
        # not after all six of a's (first come, first served would give [0, 1, 2, 3], [4, 5, 100, 101])
        assert batches[-2:] == [[0, 100, 1, 101], [2, 3, 4, 5]], batches
    finally:
        a.close()
        b.close()


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_a_slow_consumer_keeps_server_memory_bounded_while_others_are_served(tiny_checkpoint):
    """A client submits 1,000 large jobs (and a cancel storm) and never reads a reply, with the
    smallest receive buffers it can set, so every result it is owed has to wait on the server."""
    with ServerProcess(tiny_checkpoint, timeout_s=60) as served:
        heavy = dict(count=16, steps=1, outputs=("voxels", "mesh"), alpha_threshold=0.5)  # ~0.9 MB per result
        with VoxelClient("127.0.0.1", served.port, timeout_s=5) as polite:
            for _ in range(3):  # warm up every code path (meshing, encoding) before the baseline
                polite.submit(p.GenerateRequest(**heavy)).result(timeout_s=30)
            baseline = _rss_mib(served.pid)
            ctx = zmq.Context()
            slow = _raw_dealer(ctx, served.address, rcvhwm=1, rcvbuf=4096, sndhwm=100_000)
            stop, sent, peak = threading.Event(), [0], [baseline]

            def flood() -> None:
                while sent[0] < 1000 and not stop.is_set():
                    slow.send_multipart(_generate(seed=sent[0], **heavy))
                    for _ in range(5):
                        slow.send_multipart([bytes(f) for f in p.encode(p.Message(p.Cancel(job_id=p.new_id())))])
                    sent[0] += 1
                    time.sleep(0.004)

            flooder = threading.Thread(target=flood, daemon=True)
            flooder.start()
            served_jobs = 0
            try:
                while flooder.is_alive():
                    job = polite.submit(p.GenerateRequest(steps=2, seed=served_jobs))
                    assert job.result(timeout_s=30).seeds == (served_jobs,)  # never queue_full
                    served_jobs += 1
                    peak[0] = max(peak[0], _rss_mib(served.pid))
                    time.sleep(0.2)
                for _ in range(10):  # and a little after the flood
                    peak[0] = max(peak[0], _rss_mib(served.pid))
                    time.sleep(0.1)
            finally:
                stop.set()
                flooder.join(5)
                slow.close()
                ctx.term()
            assert polite.submit(p.GenerateRequest(steps=2)).result(timeout_s=30).voxels is not None
    growth = peak[0] - baseline
    print(f"slow consumer: {sent[0]} jobs + {5 * sent[0]} cancels unread; server RSS {baseline:.0f} -> peak "
          f"{peak[0]:.0f} MiB (+{growth:.1f}); polite client served {served_jobs} jobs meanwhile")
    assert sent[0] == 1000 and served_jobs >= 3
    assert growth < MEMORY_BOUND_MIB, growth
