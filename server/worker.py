"""The compute thread: runs batches of jobs through the model, one denoising step at a time.

It never touches the ROUTER socket: every outgoing message goes as [client id, *frames] through an
inproc PUSH socket to the socket thread. Between steps it checks each job's stop flag, so a cancel
lands at the next step, and it sends (throttled) progress.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import numpy as np
import zmq

from blender_addon.protocol import (INTERNAL, SHUTTING_DOWN, TOO_LARGE, Body, Cancelled, ErrorReply, Progress,
                                    encode, reply)
from server.jobs import STOP_CANCEL, STOP_SHUTDOWN, Job, JobQueue, QueueClosed
from server.results import build_result, preview, result_nbytes

log = logging.getLogger(__name__)
OUTBOX = "inproc://voxd-outbox"


class Worker(threading.Thread):
    """generator: a diffusion_core.pipeline.VoxelGenerator (or anything with its interface)."""

    def __init__(self, context: zmq.Context, generator: Any, queue: JobQueue, *, max_message_bytes: int,
                 progress_interval_s: float):
        super().__init__(name="voxd-compute", daemon=True)
        self.context = context
        self.generator = generator
        self.queue = queue
        self.max_message_bytes = max_message_bytes
        self.progress_interval_s = progress_interval_s
        self._push: zmq.Socket | None = None

    def run(self) -> None:
        self._push = self.context.socket(zmq.PUSH)
        self._push.linger = 1000
        self._push.connect(OUTBOX)
        try:
            while True:
                try:
                    batch = self.queue.next_batch(timeout=0.2)
                except QueueClosed:
                    return
                if batch:
                    self._run_batch(batch)
        finally:
            self._push.close()

    def _send(self, job: Job, body: Body) -> None:
        self._push.send_multipart([job.client, *encode(reply(job.job_id, body))], copy=False)

    def _settled(self, job: Job) -> bool:
        """True if the job must stop; sends its terminal message (none when its client is gone)."""
        if job.stop_reason is None:
            return False
        if job.finish():
            if job.stop_reason == STOP_CANCEL:
                self._send(job, Cancelled())
            elif job.stop_reason == STOP_SHUTDOWN:
                self._send(job, ErrorReply(SHUTTING_DOWN, "the server is shutting down; restart it and try again"))
        return True

    def _run_batch(self, batch: list[Job]) -> None:
        req = batch[0].request
        labels = [j.label for j in batch for _ in range(j.request.count)]
        seeds = [s for j in batch for s in j.request.seeds]
        starts = np.cumsum([0] + [j.request.count for j in batch])
        live = list(batch)
        last, last_progress = None, 0.0
        try:
            steps = self.generator.generate_progressive(labels, seeds, steps=req.steps, sampler=req.sampler,
                                                        eta=req.eta, guidance_scale=req.guidance)
            with contextlib.closing(steps):
                for step in steps:
                    live = [j for j in live if not self._settled(j)]
                    if not live:
                        return
                    last = step
                    now = time.monotonic()
                    if now - last_progress >= self.progress_interval_s:
                        last_progress = now
                        self._progress(batch, live, starts, step)
            voxels = self.generator.to_voxels(last.x_t)
            for j in live:
                i = batch.index(j)
                if not self._settled(j):
                    self._finish(j, voxels[starts[i]:starts[i + 1]])
        except Exception as e:  # a bug or a bad model must not kill the server: fail these jobs
            log.exception("generation failed")
            for j in live:
                if j.finish():
                    self._send(j, ErrorReply(INTERNAL, f"generation failed on the server: {e!r}; see its log"))
        finally:
            self.queue.done(batch)

    def _progress(self, batch: list[Job], live: list[Job], starts: np.ndarray, step: Any) -> None:
        wants = [j for j in live if j.request.preview]
        pred = self.generator.to_voxels(step.pred_x0) if wants else None
        for j in live:
            i = batch.index(j)
            grid = preview(pred[starts[i]:starts[i + 1]]) if j.request.preview else None
            self._send(j, Progress(step=step.index + 1, total=step.total, preview=grid))

    def _finish(self, job: Job, voxels: np.ndarray) -> None:
        result = build_result(voxels, job.request, job.class_name)
        if not job.finish():
            return
        size = result_nbytes(result)
        if size > self.max_message_bytes:
            self._send(job, ErrorReply(TOO_LARGE, f"the result is {size} bytes, over this server's "
                                       f"{self.max_message_bytes}-byte limit: ask for fewer objects or voxels only"))
        else:
            self._send(job, result)
