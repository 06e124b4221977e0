"""A scripted stand-in for the model server (bpy-free): answers hello and ping, accepts generate
requests, then sends only what the test asks for. For failure modes a real server rarely shows."""
from __future__ import annotations

import threading
import time

import zmq

from blender_addon.shared import protocol as p

INFO = p.ServerInfo(server_version="9.9.9", model_name="fake-model", class_names=("chair", "lamp"),
                    resolution=8, instance_id="fake-instance")


class FakeServer:
    """ROUTER on a free loopback port. `progress_steps`: Progress events sent per job (then silence,
    or, if `finish`, a terminal ErrorReply "finished"); `pong_jobs`: whether pongs list the jobs
    (True: all accepted ones, False: none, None: no list at all, as servers before job lists);
    `compute`: the pongs' compute-thread flag (None: not sent, as servers before 1.2); `hang`: once a
    job is accepted, answer nothing more (a hung process: the connection stays up, nothing comes)."""

    def __init__(self, progress_steps: int = 0, progress_interval_s: float = 0.05, finish: bool = False,
                 pong_jobs: bool | None = True, compute: bool | None = None, hang: bool = False):
        self.progress_steps, self.interval, self.finish, self.pong_jobs = (progress_steps, progress_interval_s,
                                                                           finish, pong_jobs)
        self.compute, self.hang = compute, hang
        self.jobs: list[str] = []
        self.cancelled: list[str] = []
        self.pings = 0
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.linger = 0
        self.port = self._socket.bind_to_random_port("tcp://127.0.0.1")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close(linger=0)
        self._context.term()

    def _send(self, peer: bytes, parent_id: str, body: p.Body) -> None:
        self._socket.send_multipart([peer, *p.encode(p.reply(parent_id, body))])

    def _serve(self) -> None:
        timers: list[tuple[float, bytes, str, int]] = []  # (due, peer, job id, next step)
        while not self._stop.is_set():
            if self._socket.poll(10):
                peer, *frames = self._socket.recv_multipart()
                msg = p.decode(frames)
                body = msg.body
                if self.hang and self.jobs:
                    continue
                if isinstance(body, p.Hello):
                    self._send(peer, msg.msg_id, INFO)
                elif isinstance(body, p.Ping):
                    self.pings += 1
                    jobs = None if self.pong_jobs is None else tuple(self.jobs if self.pong_jobs else ())
                    self._send(peer, msg.msg_id, p.Pong(instance_id=INFO.instance_id, jobs=jobs, compute=self.compute))
                elif isinstance(body, p.GenerateRequest):
                    self.jobs.append(msg.msg_id)
                    self._send(peer, msg.msg_id, p.Accepted(queue_position=0))
                    if self.progress_steps:
                        timers.append((time.monotonic() + self.interval, peer, msg.msg_id, 1))
                elif isinstance(body, p.Cancel):
                    self.cancelled.append(body.job_id)
            now = time.monotonic()
            for timer in [t for t in timers if t[0] <= now]:
                timers.remove(timer)
                _, peer, job_id, step = timer
                self._send(peer, job_id, p.Progress(step=step, total=self.progress_steps))
                if step < self.progress_steps:
                    timers.append((now + self.interval, peer, job_id, step + 1))
                elif self.finish:
                    self._send(peer, job_id, p.ErrorReply("fake", "finished"))
