"""Client for the Voxel Diffusion server (bpy-free: works in Blender and in plain scripts).

    with VoxelClient("127.0.0.1", 5557, timeout_s=5) as client:      # hello + version check
        job = client.submit(GenerateRequest(class_label="chair", count=2, outputs=("voxels", "mesh")))
        for p in job.progress():
            print(p.step, "/", p.total)
        result = job.result()          # GenerateResult, or raises JobFailed / JobCancelled

Timeouts everywhere: `timeout_s` (default 2 s) is the longest this client waits on the server.
- A request (hello, ping) is answered within it or raises ServerUnavailable ("Lazy Pirate": the
  time is split into `retries` + 1 tries; each unanswered try closes and reopens the DEALER socket,
  LINGER 0, same routing id so running jobs survive, and resends). No server: ServerUnavailable
  after timeout_s.
- While jobs are pending ("Paranoid Pirate" heartbeats): after `heartbeat_s` (timeout_s / 4, at most
  0.5 s) without a message from the server the client sends a ping, so a live server is heard from
  several times a second even when one denoising step takes far longer; a server silent for
  timeout_s (killed, hung, network gone) raises ServerUnavailable, within timeout_s + 0.1 s.
- Each pong says whether the server's compute thread runs (protocol 1.2): a server that answers
  but cannot run jobs raises ServerUnavailable like a dead one. It lists the jobs the server still
  owes this client a reply; a job pending when the ping was sent that it does not list (dropped
  while the connection was down, reply lost) fails with JobFailed code `lost`, so a live server
  that forgot a job cannot leave it waiting forever either.

Threads: one client may be shared (a lock guards the socket), but use either `poll()` (drains every
job's events; the add-on's worker thread) or the per-job iterators, not both at once.
"""
from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from threading import RLock
from typing import Iterator

import zmq

from . import protocol as p


class ClientError(Exception):
    """Base of the client's errors."""


class ServerUnavailable(ClientError):
    """No (working) server answered in time, or its compute thread is down."""


class IncompatibleServer(ClientError):
    """Something answered, but not a server speaking this protocol version."""


class JobFailed(ClientError):
    """The server answered the job with an error (`code`, `message`)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class JobCancelled(ClientError):
    """The job was cancelled."""


SERVER_RESTARTED = "server_restarted"
DEFAULT_TIMEOUT_S = 2.0
"""How long a client waits on a silent or absent server before giving up (the bound in README
"Failure behaviour"): 2 s, so that detection stays within 3 s with the polling granularity on top."""
MAX_HEARTBEAT_S = 0.5


@dataclass(frozen=True)
class CurveKeys:
    """CurveZMQ keys (Z85 bytes): the server's public key and this client's key pair."""

    server_public: bytes
    public: bytes
    secret: bytes

    @classmethod
    def from_files(cls, client_secret_file: str | Path, server_public_file: str | Path) -> CurveKeys:
        """Read zmq.auth certificate files (see `python -m server keys`)."""
        import zmq.auth

        public, secret = zmq.auth.load_certificate(client_secret_file)
        server_public, _ = zmq.auth.load_certificate(server_public_file)
        if secret is None:
            raise ValueError(f"{client_secret_file} holds no secret key")
        return cls(server_public, public, secret)


class Job:
    """A submitted generate request. Events: Accepted, Progress*, then one of GenerateResult,
    ErrorReply, Cancelled. `state`: queued | running | done | failed | cancelled."""

    def __init__(self, client: VoxelClient, job_id: str, request: p.GenerateRequest):
        self.client, self.id, self.request = client, job_id, request
        self.state = "submitted"
        self.queue_position: int | None = None
        self.latest: p.Progress | None = None
        self.terminal: p.Body | None = None
        self._events: deque[p.Body] = deque()

    @property
    def done(self) -> bool:
        return self.terminal is not None

    def _push(self, body: p.Body) -> None:
        if self.done:
            return
        if isinstance(body, p.Accepted):
            self.state, self.queue_position = "queued", body.queue_position
        elif isinstance(body, p.Progress):
            self.state, self.latest = "running", body
        elif body.TYPE in p.TERMINAL_TYPES:
            self.terminal = body
            self.state = {"result": "done", "error": "failed", "cancelled": "cancelled"}[body.TYPE]
        self._events.append(body)

    def events(self, timeout_s: float | None = None) -> Iterator[p.Body]:
        """Yield this job's events until (and including) the terminal one. Raises ServerUnavailable
        if the server dies, TimeoutError after `timeout_s` (None: no overall limit)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            while self._events:
                body = self._events.popleft()
                yield body
                if body.TYPE in p.TERMINAL_TYPES:
                    return
            if self.done and not self._events:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.id} not finished after {timeout_s} s")
            self.client._wait_for_events(self)

    def progress(self, timeout_s: float | None = None) -> Iterator[p.Progress]:
        """Yield Progress events; stops at the terminal event (read it with result())."""
        for body in self.events(timeout_s):
            if isinstance(body, p.Progress):
                yield body

    def result(self, timeout_s: float | None = None) -> p.GenerateResult:
        """Wait for the end. Raises JobFailed, JobCancelled, ServerUnavailable or TimeoutError."""
        for _ in self.events(timeout_s):
            pass
        if isinstance(self.terminal, p.ErrorReply):
            raise JobFailed(self.terminal.code, self.terminal.message)
        if isinstance(self.terminal, p.Cancelled):
            raise JobCancelled(f"job {self.id} was cancelled")
        return self.terminal

    def cancel(self) -> None:
        """Ask the server to cancel; the job still ends with its terminal event (usually Cancelled)."""
        if not self.done:
            self.client._send(p.Message(p.Cancel(job_id=self.id)))


class VoxelClient:
    """A connection to one server (see the module docstring for timeouts and heartbeats)."""

    def __init__(self, host: str = "127.0.0.1", port: int = p.DEFAULT_PORT, timeout_s: float = DEFAULT_TIMEOUT_S,
                 retries: int = 1, curve: CurveKeys | None = None, name: str = "voxel-client",
                 max_message_bytes: int = p.DEFAULT_MAX_MESSAGE_BYTES):
        self.address = p.tcp_address(host, port)
        self._ipv6 = p.is_ipv6_literal(host)
        self.timeout_s, self.retries, self.curve, self.name = timeout_s, retries, curve, name
        self.heartbeat_s = min(MAX_HEARTBEAT_S, timeout_s / 4)
        self.max_message_bytes = max_message_bytes
        self.info: p.ServerInfo | None = None
        self._identity = uuid.uuid4().bytes
        self._context = zmq.Context()
        self._lock = RLock()
        self._jobs: dict[str, Job] = {}
        self._awaiting: set[str] = set()  # ids of requests waiting for their reply (others are not kept)
        self._replies: dict[str, p.Message] = {}
        self._heartbeats: dict[str, frozenset[str]] = {}  # heartbeat ping id -> jobs pending when it was sent
        self._last_heard = self._last_ping = time.monotonic()
        self._socket: zmq.Socket | None = None
        self._open()

    # ------------------------------------------------------------------ connection
    def _open(self) -> None:
        sock = self._context.socket(zmq.DEALER)
        sock.linger = 0
        sock.routing_id = self._identity
        if self._ipv6:
            sock.ipv6 = 1
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        if self.curve is not None:
            sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = (
                self.curve.server_public, self.curve.public, self.curve.secret)
        sock.connect(self.address)
        self._socket = sock

    def _reopen(self) -> None:
        self._socket.close(linger=0)
        self._open()

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close(linger=0)
                self._socket = None
            self._context.term()

    def __enter__(self) -> VoxelClient:
        self.hello()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ wire
    def _send(self, msg: p.Message) -> None:
        with self._lock:
            try:
                self._socket.send_multipart(p.encode(msg), flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:  # no connection and the pipe is full: the server is not there
                raise ServerUnavailable(f"cannot send to {self.address}: no server connected") from None

    def _pump(self, timeout_ms: int) -> None:
        """Receive whatever arrives within timeout_ms (then everything already waiting) and route it."""
        with self._lock:
            if not self._socket.poll(max(0, timeout_ms)):
                return
            while self._socket.poll(0):
                frames = self._socket.recv_multipart(copy=False)
                self._last_heard = time.monotonic()
                try:
                    msg = p.decode(frames, self.max_message_bytes)
                except p.ProtocolError as e:
                    if e.code == p.BAD_VERSION:
                        raise IncompatibleServer(e.message) from None
                    continue  # an undecodable reply cannot be routed: drop it
                job = self._jobs.get(msg.parent_id)
                if job is not None:
                    job._push(msg.body)
                    if job.done:
                        del self._jobs[job.id]
                elif msg.parent_id in self._heartbeats:
                    pending = self._heartbeats.pop(msg.parent_id)
                    if isinstance(msg.body, p.Pong):
                        self._on_pong(msg.body, pending)
                elif msg.parent_id in self._awaiting:
                    self._replies[msg.parent_id] = msg

    def _request(self, body: p.Body) -> p.Message:
        """Send a request and wait for its direct reply, at most timeout_s in all (Lazy Pirate: the
        time is split into retries + 1 tries; each unanswered one reopens the socket and resends)."""
        per_try = self.timeout_s / (self.retries + 1)
        for _ in range(self.retries + 1):
            msg = p.Message(body)
            with self._lock:
                self._awaiting.add(msg.msg_id)
                try:
                    self._send(msg)
                    deadline = time.monotonic() + per_try
                    while (left := deadline - time.monotonic()) > 0:
                        self._pump(int(left * 1000) + 1)
                        if msg.msg_id in self._replies:
                            return self._replies.pop(msg.msg_id)
                finally:
                    self._awaiting.discard(msg.msg_id)
                self._reopen()
        raise ServerUnavailable(
            f"no Voxel Diffusion server answered at {self.address} within {self.timeout_s:g} s "
            f"({self.retries + 1} tries). Start one with `python -m server serve --checkpoint CKPT`, check host and port"
            + (", and check that the server knows this client's CurveZMQ key." if self.curve else
               "; a server started with --curve-dir answers only clients given CurveZMQ keys."))

    def _keepalive(self) -> None:
        """While jobs are pending: ping after heartbeat_s of silence; raise ServerUnavailable after
        timeout_s of silence (the server was killed, hangs, or the network is gone)."""
        with self._lock:
            if not self._jobs:
                return
            now = time.monotonic()
            silent = now - self._last_heard
            if silent > self.timeout_s:
                raise ServerUnavailable(
                    f"the Voxel Diffusion server at {self.address} stopped answering (nothing heard for "
                    f"{silent:.1f} s while {len(self._jobs)} job(s) were pending): it was stopped or crashed; "
                    "restart it and submit the jobs again")
            if silent >= self.heartbeat_s and now - self._last_ping >= self.heartbeat_s:
                ping = p.Message(p.Ping())
                while len(self._heartbeats) >= 16:  # unanswered ones from long ago
                    del self._heartbeats[next(iter(self._heartbeats))]
                self._heartbeats[ping.msg_id] = frozenset(self._jobs)
                self._last_ping = now
                self._send(ping)

    # ------------------------------------------------------------------ API
    def hello(self) -> p.ServerInfo:
        """Connect: ask the server what it is and check the protocol version."""
        reply = self._request(p.Hello(client=self.name)).body
        if isinstance(reply, p.ErrorReply):
            raise IncompatibleServer(reply.message) if reply.code == p.BAD_VERSION else JobFailed(reply.code,
                                                                                                   reply.message)
        if not isinstance(reply, p.ServerInfo) or reply.protocol_version.split(".")[0] != str(p.PROTOCOL_MAJOR):
            raise IncompatibleServer(f"{self.address} answered hello with {reply!r}, not protocol "
                                     f"{p.PROTOCOL_VERSION} info: update the add-on or the server")
        self.info = reply
        return reply

    def ping(self) -> float:
        """Round trip in seconds. Fails this client's pending jobs that the server no longer has:
        all of them (code `server_restarted`) if it restarted meanwhile, else (code `lost`) those
        its pong does not list."""
        with self._lock:  # no job may be submitted between the ping and the check of its pong
            pending = frozenset(self._jobs)
            t0 = time.perf_counter()
            reply = self._request(p.Ping()).body
            rtt = time.perf_counter() - t0
            if isinstance(reply, p.Pong):
                self._on_pong(reply, pending)
            return rtt

    def _on_pong(self, pong: p.Pong, pending: frozenset[str]) -> None:
        """Act on a pong to a ping sent while `pending` jobs were waiting: raise ServerUnavailable if
        the compute thread is down, fail pending jobs the server restarted or no longer lists."""
        if pong.compute is False:  # None: a server before 1.2, which does not say
            raise ServerUnavailable(
                f"the Voxel Diffusion server at {self.address} answers, but its compute thread is not running, so "
                "it cannot run jobs: restart the server (its log says why)")
        if self.info is None:
            return
        if pong.instance_id != self.info.instance_id:
            self._fail_jobs(list(self._jobs), SERVER_RESTARTED, "the server restarted and lost this job; submit it again")
            self.info = None
        elif pong.jobs is not None:  # a 1.0 server does not report its jobs
            listed = set(pong.jobs)
            self._fail_jobs([i for i in pending if i in self._jobs and i not in listed], p.LOST,
                            "the server no longer has this job and will not answer it (its connection to "
                            "this client dropped, or the reply was lost); submit it again")

    def _fail_jobs(self, job_ids, code: str, message: str) -> None:
        for job_id in list(job_ids):
            self._jobs.pop(job_id)._push(p.ErrorReply(code, message))

    def submit(self, request: p.GenerateRequest) -> Job:
        """Send a generate request (connecting first if needed); returns at once."""
        if self.info is None:
            self.hello()
        msg = p.Message(request)
        job = Job(self, msg.msg_id, request)
        with self._lock:
            if not self._jobs:  # the silence clock starts now, not at the last message of an idle spell
                self._last_heard = time.monotonic()
            self._jobs[job.id] = job
            self._send(msg)
        return job

    def poll(self, timeout_ms: int = 0) -> list[tuple[Job, p.Body]]:
        """Non-blocking drain (waits at most timeout_ms): every job event received, in order. Sends
        heartbeats while jobs are pending; raises ServerUnavailable if the server fell silent."""
        with self._lock:
            jobs = list(self._jobs.values())
            self._pump(timeout_ms)
            self._keepalive()
            events = []
            for job in jobs + [j for j in self._jobs.values() if j not in jobs]:
                events += [(job, job._events.popleft()) for _ in range(len(job._events))]
            return events

    def _wait_for_events(self, job: Job) -> None:
        """Wait up to 0.1 s for an event of `job`, with heartbeats (raises ServerUnavailable)."""
        deadline = time.monotonic() + 0.1
        while not job._events and not job.done and time.monotonic() < deadline:
            self._pump(20)
            self._keepalive()
