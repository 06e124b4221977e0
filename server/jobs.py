"""Jobs and the thread-safe job queue shared by the socket thread and the compute thread.

A job is one validated `generate` request from one client. The queue hands the compute thread a
batch: the oldest job plus every queued job with the same batch key (steps, sampler, eta, guidance)
while the batch stays within `max_batch` samples. Every job ends exactly once (`Job.finish`), which
is what guarantees exactly one terminal message per request.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from blender_addon.protocol import GenerateRequest

# Why a running job must stop; checked by the compute thread at every denoising step.
STOP_CANCEL = "cancel"
STOP_CLIENT_GONE = "client_gone"
STOP_SHUTDOWN = "shutdown"


@dataclass(eq=False)
class Job:
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


class JobQueue:
    """FIFO of queued jobs plus the set of running ones."""

    def __init__(self, max_queue: int, max_batch: int):
        self.max_queue = max_queue
        self.max_batch = max_batch
        self._queued: deque[Job] = deque()
        self._running: dict[tuple[bytes, str], Job] = {}
        self._closed = False
        self._cond = threading.Condition()

    def submit(self, job: Job) -> int | None:
        """Queue a job; returns how many jobs are ahead of it, or None when the queue is full."""
        with self._cond:
            if self._closed:
                raise QueueClosed
            if len(self._queued) >= self.max_queue:
                return None
            ahead = len(self._queued) + len(self._running)
            self._queued.append(job)
            self._cond.notify()
            return ahead

    def next_batch(self, timeout: float) -> list[Job]:
        """Block up to `timeout` s for work; returns compatible jobs (now running), or [] if none.
        Raises QueueClosed once the queue is closed."""
        with self._cond:
            ready = self._cond.wait_for(lambda: self._queued or self._closed, timeout)
            if self._closed:
                raise QueueClosed
            if not ready:
                return []
            first = self._queued.popleft()
            batch, total = [first], first.request.count
            for job in list(self._queued):
                if job.request.batch_key == first.request.batch_key and total + job.request.count <= self.max_batch:
                    self._queued.remove(job)
                    batch.append(job)
                    total += job.request.count
            self._running.update((j.key, j) for j in batch)
            return batch

    def done(self, batch: list[Job]) -> None:
        with self._cond:
            for job in batch:
                self._running.pop(job.key, None)

    def cancel(self, client: bytes, job_id: str) -> str | None:
        """Cancel a job: "dropped" if it was queued (removed and finished: the caller sends
        `cancelled`), "flagged" if running (the compute thread stops it at its next step and answers),
        None if unknown or already over."""
        with self._cond:
            for job in self._queued:
                if job.key == (client, job_id):
                    self._queued.remove(job)
                    job.stop_reason = STOP_CANCEL
                    return "dropped" if job.finish() else None
            job = self._running.get((client, job_id))
            if job is None:
                return None
            job.stop_reason = job.stop_reason or STOP_CANCEL
            return "flagged"

    def drop_client(self, client: bytes) -> list[Job]:
        """Stop every job of a client that has gone away: running ones are flagged (the compute thread
        answers them at its next step); queued ones are removed, finished and returned (the caller
        answers them)."""
        with self._cond:
            gone = [j for j in self._queued if j.client == client]
            for job in gone:
                self._queued.remove(job)
            for job in self._running.values():
                if job.client == client:
                    job.stop_reason = job.stop_reason or STOP_CLIENT_GONE
            return [j for j in gone if j.finish()]

    def close(self) -> list[Job]:
        """Stop accepting work: flag running jobs, return the queued ones (the caller answers them)."""
        with self._cond:
            self._closed = True
            queued, self._queued = list(self._queued), deque()
            for job in self._running.values():
                job.stop_reason = job.stop_reason or STOP_SHUTDOWN
            self._cond.notify_all()
            return queued

    def __len__(self) -> int:
        with self._cond:
            return len(self._queued) + len(self._running)
