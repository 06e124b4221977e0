"""Jobs and the thread-safe, fair job queue shared by the socket thread and the compute thread.

A job is one validated `generate` request from one client. Every job ends exactly once
(`QueuedJob.finish`), which is what guarantees exactly one terminal message per request.

Fairness: each client (routing id) has its own FIFO. A client may hold at most its fair share of the
`max_queue` slots: `max_queue // n`, n being the number of clients with queued or running jobs,
itself included. When the queue is full and a client below its share submits, the newest queued job
of the client furthest over its share is evicted (the caller answers it `queue_full`), so one greedy
or stalled client can never lock the others out, and the queue never holds more than `max_queue`
jobs. The compute thread takes batches round-robin: the head job comes from the client served
longest ago, and compatible jobs (same steps, sampler, eta, guidance) are added one per client in
turn until the batch holds `max_batch` samples, so batching still fills the model. A client can be
paused (its replies are not being read): its jobs stay queued but are not started.
"""
from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from blender_addon.shared.protocol import GenerateRequest

# Why a running job must stop; checked by the compute thread at every denoising step.
STOP_CANCEL = "cancel"
STOP_CLIENT_GONE = "client_gone"
STOP_SHUTDOWN = "shutdown"


@dataclass(eq=False)
class QueuedJob:
    """One request. `client` is the ROUTER routing id; `job_id` the generate message's msg_id."""

    client: bytes
    job_id: str
    request: GenerateRequest
    label: int
    class_name: str
    stop_reason: str | None = None
    _finished: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def key(self) -> tuple[bytes, str]:
        return (self.client, self.job_id)

    def finish(self) -> bool:
        """Claim the job's single terminal message; True only for the first caller."""
        with self._lock:
            first, self._finished = not self._finished, True
            return first


class QueueClosed(Exception):
    """The server is shutting down."""


class QueueFull(Exception):
    """The job was not queued: `share` is the submitting client's fair share at that moment."""

    def __init__(self, share: int):
        super().__init__(share)
        self.share = share


@dataclass(frozen=True)
class Admitted:
    """A queued job: `ahead` jobs are queued or running before it; `evicted` is another client's job
    that made room for it (already finished: the caller answers it `queue_full`)."""

    ahead: int
    evicted: QueuedJob | None = None


class JobQueue:
    """Per-client FIFOs of queued jobs (rotation order: least recently served first) plus the running set."""

    def __init__(self, max_queue: int, max_batch: int):
        self.max_queue = max_queue
        self.max_batch = max_batch
        self._queued: OrderedDict[bytes, deque[QueuedJob]] = OrderedDict()
        self._running: dict[tuple[bytes, str], QueuedJob] = {}
        self._paused: set[bytes] = set()
        self._closed = False
        self._cond = threading.Condition()

    # ------------------------------------------------------------------ admission (socket thread)
    def _count(self) -> int:
        return sum(len(q) for q in self._queued.values())

    def share(self, client: bytes) -> int:
        """The client's fair share of the queue right now (at least 1)."""
        with self._cond:
            return self._share(client)

    def _share(self, client: bytes) -> int:
        active = set(self._queued) | {c for c, _ in self._running} | {client}
        return max(1, self.max_queue // len(active))

    def submit(self, job: QueuedJob) -> Admitted:
        """Queue a job. Raises QueueFull (client at its share, or no room) or QueueClosed."""
        with self._cond:
            if self._closed:
                raise QueueClosed
            share = self._share(job.client)
            mine = self._queued.get(job.client, ())
            if len(mine) >= share:
                raise QueueFull(share)
            evicted = None
            if self._count() >= self.max_queue:
                evicted = self._evict(share)
                if evicted is None:
                    raise QueueFull(share)
            ahead = self._count() + len(self._running)
            self._queued.setdefault(job.client, deque()).append(job)
            self._cond.notify()
            return Admitted(ahead, evicted)

    def _evict(self, share: int) -> QueuedJob | None:
        """Remove and finish the newest queued job of the client furthest over `share`."""
        client, jobs = max(self._queued.items(), key=lambda item: len(item[1]))
        if len(jobs) <= share:
            return None
        job = jobs.pop()
        if not jobs:
            del self._queued[client]
        return job if job.finish() else None

    # ------------------------------------------------------------------ batches (compute thread)
    def next_batch(self, timeout: float) -> list[QueuedJob]:
        """Block up to `timeout` s for work; returns compatible jobs (now running), or [] if none.
        Raises QueueClosed once the queue is closed."""
        with self._cond:
            ready = self._cond.wait_for(lambda: self._runnable() or self._closed, timeout)
            if self._closed:
                raise QueueClosed
            if not ready:
                return []
            clients = self._runnable()
            first = self._queued[clients[0]].popleft()
            batch, total, key = [first], first.request.count, first.request.batch_key
            order = clients[1:] + clients[:1]  # the others first, then the head's client again
            added = True
            while added:  # one compatible job per client per round
                added = False
                for client in order:
                    job = next((j for j in self._queued.get(client, ()) if j.request.batch_key == key), None)
                    if job is not None and total + job.request.count <= self.max_batch:
                        self._queued[client].remove(job)
                        batch.append(job)
                        total += job.request.count
                        added = True
            for client in {j.client for j in batch}:
                if not self._queued[client]:
                    del self._queued[client]
                else:
                    self._queued.move_to_end(client)  # served: to the back of the rotation
            self._running.update((j.key, j) for j in batch)
            return batch

    def _runnable(self) -> list[bytes]:
        return [c for c, jobs in self._queued.items() if jobs and c not in self._paused]

    def done(self, batch: list[QueuedJob]) -> None:
        with self._cond:
            for job in batch:
                self._running.pop(job.key, None)

    def release_running(self) -> list[QueuedJob]:
        """Forget every running job (their compute thread died); returns those not yet finished,
        now finished (the caller answers them)."""
        with self._cond:
            running, self._running = list(self._running.values()), {}
            return [j for j in running if j.finish()]

    # ------------------------------------------------------------------ control (socket thread)
    def pause(self, client: bytes, paused: bool) -> None:
        """Hold back (or release) a client's queued jobs: its replies are not being read."""
        with self._cond:
            if paused:
                self._paused.add(client)
            else:
                self._paused.discard(client)
                self._cond.notify()

    def cancel(self, client: bytes, job_id: str) -> str | None:
        """Cancel a job: "dropped" if it was queued (removed and finished: the caller sends
        `cancelled`), "flagged" if running (the compute thread stops it at its next step and answers),
        None if unknown or already over."""
        with self._cond:
            for job in self._queued.get(client, ()):
                if job.job_id == job_id:
                    self._remove(job)
                    job.stop_reason = STOP_CANCEL
                    return "dropped" if job.finish() else None
            job = self._running.get((client, job_id))
            if job is None:
                return None
            job.stop_reason = job.stop_reason or STOP_CANCEL
            return "flagged"

    def _remove(self, job: QueuedJob) -> None:
        jobs = self._queued[job.client]
        jobs.remove(job)
        if not jobs:
            del self._queued[job.client]

    def drop_client(self, client: bytes) -> list[QueuedJob]:
        """Stop every job of a client that has gone away: running ones are flagged (the compute thread
        answers them at its next step); queued ones are removed, finished and returned (the caller
        answers them)."""
        with self._cond:
            gone = list(self._queued.pop(client, ()))
            self._paused.discard(client)
            for job in self._running.values():
                if job.client == client:
                    job.stop_reason = job.stop_reason or STOP_CLIENT_GONE
            return [j for j in gone if j.finish()]

    def close(self) -> list[QueuedJob]:
        """Stop accepting work: flag running jobs, return the queued ones (the caller answers them)."""
        with self._cond:
            self._closed = True
            queued = [j for jobs in self._queued.values() for j in jobs]
            self._queued.clear()
            for job in self._running.values():
                job.stop_reason = job.stop_reason or STOP_SHUTDOWN
            self._cond.notify_all()
            return queued

    def queued_by(self, client: bytes) -> int:
        with self._cond:
            return len(self._queued.get(client, ()))

    def __len__(self) -> int:
        with self._cond:
            return self._count() + len(self._running)
