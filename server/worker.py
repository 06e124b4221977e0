"""The compute thread: runs batches of jobs through the model, one denoising step at a time.

It never touches the ROUTER socket: every outgoing message goes as [client id, terminal job id (b""
for a non-terminal message), *frames] through an inproc PUSH socket to the socket thread, which
tracks which jobs still owe their client a terminal reply. Between steps it checks each job's stop
flag, so a cancel lands at the next step, and it sends (throttled) progress. A failure while
turning one job's voxels into its result fails that job only; a failure of the shared denoising
loop fails the whole batch. Should the thread itself die (a failure outside those handlers, or in
one of them), it records why in `failure`; the socket thread notices, fails the jobs it held and
restarts it or shuts the server down (server.app).

Test-only fault injection (off unless asked for): `fault=FAULT_COMPUTE_THREAD` makes the thread die
at the first denoising step it runs, once, as an unexpected error escaping every handler would.
"""
from __future__ import annotations

import contextlib
from collections.abc import Mapping
import logging
import threading
import time

import numpy as np
import zmq

from blender_addon.shared.protocol import (INTERNAL, LOST, SHUTTING_DOWN, TOO_LARGE, Body, Cancelled, ErrorReply,
                                    Progress, TERMINAL_TYPES, encode, reply)
from server.contract import Generator, Step
from server.job_queue import STOP_CANCEL, STOP_CLIENT_GONE, STOP_SHUTDOWN, QueuedJob, JobQueue, QueueClosed
from server.results import build_result, preview, result_nbytes

log = logging.getLogger(__name__)
OUTBOX = "inproc://voxd-outbox"
OUTBOX_HWM = 100  # messages the compute thread may be ahead of the socket thread (it then waits)


FAULT_COMPUTE_THREAD = "compute-thread"
FAULTS = (FAULT_COMPUTE_THREAD,)


class InjectedFault(BaseException):
    """Test-only: kills the compute thread (a BaseException, so no per-job handler catches it)."""


CLIENT_GONE_MESSAGE = ("the server lost the connection to this client mid-job and dropped the job; "
                       "check the network and submit it again")


class Worker(threading.Thread):
    """generators: the server's models by name (server.contract.Generator); a batch runs on its jobs' model
    (requests for different models never share a batch: their batch_key differs).

    Stats (read from other threads, for tests and monitoring): `batches_run` model batches started,
    `largest_batch` most samples in one of them, `steps_run` denoising steps completed in total.
    """

    def __init__(self, context: zmq.Context, generators: Mapping[str, Generator], queue: JobQueue, *,
                 max_message_bytes: int,
                 progress_interval_s: float, fault: str | None = None):
        super().__init__(name="voxd-compute", daemon=True)
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown test fault {fault!r}; known: {', '.join(FAULTS)}")
        self.fault = fault
        self.failure: str | None = None  # why the thread died, if it did
        self.held: list[QueuedJob] = []  # the batch being run (the socket thread fails these if the thread dies)
        self.context = context
        self.generators = generators
        self.queue = queue
        self.max_message_bytes = max_message_bytes
        self.progress_interval_s = progress_interval_s
        self._push: zmq.Socket | None = None
        self.batches_run = 0
        self.largest_batch = 0
        self.steps_run = 0

    def run(self) -> None:
        self._push = self.context.socket(zmq.PUSH)
        self._push.linger = 1000
        self._push.sndhwm = OUTBOX_HWM
        self._push.connect(OUTBOX)
        try:
            self._loop()
        except BaseException as e:  # noqa: BLE001 - recorded for the socket thread, which fails the held jobs
            self.failure = f"{type(e).__name__}: {e}"
            log.critical("the compute thread died", exc_info=not isinstance(e, InjectedFault))
        finally:
            self._push.close()

    def _loop(self) -> None:
        while True:
            try:
                batch = self.queue.next_batch(timeout=0.2)
            except QueueClosed:
                return
            if batch:
                self.held = batch
                try:
                    self._run_batch(batch)
                except Exception as e:  # a bug here must neither kill this thread nor leave jobs waiting
                    log.exception("batch failed")
                    for j in batch:
                        if j.finish():
                            self._send(j, ErrorReply(INTERNAL, f"the server failed: {e!r}; see its log"))
                self.held = []

    def _send(self, job: QueuedJob, body: Body) -> None:
        self._push_frames(job, body.TYPE in TERMINAL_TYPES, encode(reply(job.job_id, body)))

    def _push_frames(self, job: QueuedJob, terminal: bool, frames: list) -> None:
        self._push.send_multipart([job.client, job.job_id.encode() if terminal else b"", *frames], copy=False)

    def _settled(self, job: QueuedJob) -> bool:
        """True if the job must stop; then sends its terminal message (once)."""
        if job.stop_reason is None:
            return False
        if job.finish():
            if job.stop_reason == STOP_CANCEL:
                self._send(job, Cancelled())
            elif job.stop_reason == STOP_SHUTDOWN:
                self._send(job, ErrorReply(SHUTTING_DOWN, "the server is shutting down; restart it and try again"))
            elif job.stop_reason == STOP_CLIENT_GONE:  # delivered if the client reconnects in time
                self._send(job, ErrorReply(LOST, CLIENT_GONE_MESSAGE))
        return True

    def _run_batch(self, batch: list[QueuedJob]) -> None:
        try:
            starts = np.cumsum([0] + [j.request.count for j in batch])
            live, voxels = self._denoise(batch, starts)
            for j in live:  # each job's post-processing is isolated in _finish
                i = batch.index(j)
                if not self._settled(j):
                    self._finish(j, voxels[starts[i]:starts[i + 1]])
        finally:
            self.queue.done(batch)

    def _denoise(self, batch: list[QueuedJob], starts: np.ndarray) -> tuple[list[QueuedJob], np.ndarray | None]:
        """Run the batch's shared sampling loop. Returns the jobs still wanting a result and the
        voxels of the whole batch, float32 [sum of counts, C, R, R, R] ([], None if none is left).
        A failure here fails every live job of the batch: they share the model call."""
        req = batch[0].request
        labels = [j.label for j in batch for _ in range(j.request.count)]
        seeds = [s for j in batch for s in j.request.seeds]
        hues = [j.request.hue for j in batch for _ in range(j.request.count)]
        live = list(batch)
        last, last_progress = None, 0.0
        self.batches_run += 1
        self.largest_batch = max(self.largest_batch, len(seeds))
        try:
            generator = self.generators[req.model]
            edit = req.edit()  # None for plain generation; an edited request runs alone (its batch key is its own)
            steps = generator.generate_progressive(labels, seeds, steps=req.steps, sampler=req.sampler,
                                                   eta=req.eta, guidance=req.guidance, edit=edit,
                                                   hues=hues)
            with contextlib.closing(steps):
                for step in steps:
                    if self.fault == FAULT_COMPUTE_THREAD:
                        self.fault = None
                        raise InjectedFault("test fault: the compute thread dies mid-job (--test-fault)")
                    self.steps_run += 1
                    live = [j for j in live if not self._settled(j)]
                    if not live:
                        return [], None
                    last = step
                    now = time.monotonic()
                    if now - last_progress >= self.progress_interval_s:
                        last_progress = now
                        self._progress(batch, live, starts, step)
            return live, generator.to_voxels(last.x_t, edit)
        except Exception as e:  # a bug or a bad model must not kill the server: fail these jobs
            log.exception("generation failed")
            for j in live:
                if j.finish():
                    self._send(j, ErrorReply(INTERNAL, f"generation failed on the server: {e!r}; see its log"))
            return [], None

    def _progress(self, batch: list[QueuedJob], live: list[QueuedJob], starts: np.ndarray, step: Step) -> None:
        wants = [j for j in live if j.request.preview]
        pred = self.generators[batch[0].request.model].to_voxels(step.pred_x0) if wants else None
        for j in live:
            i = batch.index(j)
            grid = preview(pred[starts[i]:starts[i + 1]]) if j.request.preview else None
            self._send(j, Progress(step=step.index + 1, total=step.total, preview=grid))

    def _finish(self, job: QueuedJob, voxels: np.ndarray) -> None:
        """Build, encode and send one job's result; a failure here (meshing, ...) fails only this job."""
        try:
            result = build_result(voxels, job.request, job.class_name)
            size = result_nbytes(result)
            frames = None if size > self.max_message_bytes else encode(reply(job.job_id, result))
        except Exception as e:
            log.exception("building the result of job %s failed", job.job_id)
            if job.finish():
                self._send(job, ErrorReply(INTERNAL, f"the model ran, but turning its voxels into the requested "
                                           f"outputs ({', '.join(job.request.outputs)}, mesh style "
                                           f"{job.request.mesh_style!r}) failed: {e!r}; try other outputs or "
                                           "settings, and see the server log"))
            return
        if not job.finish():
            return
        if frames is None:
            self._send(job, ErrorReply(TOO_LARGE, f"the result is {size} bytes, over this server's "
                                       f"{self.max_message_bytes}-byte limit: ask for fewer objects or voxels only"))
        else:
            self._push_frames(job, True, frames)
