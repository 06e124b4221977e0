"""The server: a ROUTER socket served by an I/O thread that never runs the model, plus the compute
thread (server.worker). See server.serve for the command line around it.

I/O thread, per incoming message: decode (a message with a readable id gets an `error` reply; one
without is dropped and the log says why; the loop carries on whatever happens), answer hello/ping at
once, validate generate against this model and the limits, queue it and reply `accepted`, handle
cancel. It also forwards the compute thread's messages from the inproc outbox.
Sends use ROUTER_MANDATORY + NOBLOCK: a client that has gone away (EHOSTUNREACH) has its jobs dropped
(each answered with error `lost`).

No job ends silently: the I/O thread keeps, per client, the ids of the jobs that still owe a
terminal reply (`pong` lists them, so a client notices a job the server no longer has), and a job's
terminal reply that cannot be sent (peer away mid-reconnect, EAGAIN on a full pipe) is retried
until it goes out or `undelivered_grace_s` passes. Other replies (errors to bad requests, pongs,
progress) that meet a full pipe are dropped.

Bounded memory: incoming messages are at most MAX_REQUEST_BYTES (larger ones make ZeroMQ drop the
sender's connection) and RECEIVE_HWM per client are buffered; at most SEND_HWM messages wait in
each client's send pipe. A client with a terminal reply it has not taken (its pipe is full: it does
not read) is paused: its queued jobs are not started until it catches up, so a slow consumer holds
at most one batch of results in the server.

The compute thread is supervised: if it dies, every job it held is answered `internal` and it is
restarted, up to `max_compute_restarts` times a minute; beyond that the server gives up (`fatal`)
and `serve` exits non-zero, so that a supervisor restarts the process. Pongs say whether the compute
thread runs.
"""
from __future__ import annotations

import ipaddress
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import zmq

from blender_addon.shared.protocol import (INTERNAL, INVALID_REQUEST, LIMIT_EXCEEDED, LOST, QUEUE_FULL, SHUTTING_DOWN,
                                    UNKNOWN_CLASS, UNKNOWN_JOB, UNKNOWN_MODEL, Accepted, Body, Cancel, Cancelled, ErrorReply,
                                    GenerateRequest, Hello, Limits, Message, ModelInfo, Ping, Pong, ProtocolError, ServerInfo,
                                    DEFAULT_PORT, decode, encode, is_ipv6_literal, reply, show, tcp_address)
from server import __version__
from server.contract import Generator
from server.job_queue import QueuedJob, JobQueue, QueueClosed, QueueFull
from server.log_limit import RateLimitedLog
from server.worker import CLIENT_GONE_MESSAGE, OUTBOX, OUTBOX_HWM, Worker

log = logging.getLogger(__name__)


SHUTDOWN_FLUSH_S = 2.0  # on stop, how long undelivered terminal replies are still retried
MAX_REQUEST_BYTES = 1024 * 1024  # requests are small JSON; a larger message drops its sender's connection
RECEIVE_HWM = 100  # messages buffered per client before the I/O thread reads them
SEND_HWM = 32  # messages waiting in one client's send pipe; beyond it: EAGAIN (see _deliver)
MAX_KEPT_REPLIES = 64  # replies other than jobs' terminal ones kept per client while its pipe is full
COMPUTE_RESTART_WINDOW_S = 60.0


class ServerError(Exception):
    """The server cannot start (bad address, missing keys, model too large, ...)."""


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IPv4/IPv6 literals (brackets allowed: "[::1]")."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerConfig:
    """host/port: where to bind (port 0 picks a free one; IPv6 literals work, brackets optional).
    curve_dir: CurveZMQ keys (see server.keys), required for any non-loopback host.
    undelivered_grace_s: how long a terminal reply that cannot be sent is retried (a client
    reconnecting with the same routing id within it still gets it).
    max_compute_restarts: compute-thread deaths tolerated per minute (each is restarted); one more
    makes the server give up (`VoxelServer.fatal`; `serve` exits 3).
    test_fault: test only (server.worker.FAULTS), None in any real use: inject a failure."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    limits: Limits = field(default_factory=Limits)
    max_batch: int = 16
    progress_interval_s: float = 0.1
    curve_dir: Path | None = None
    warmup_steps: int = 2
    undelivered_grace_s: float = 30.0
    max_compute_restarts: int = 3
    test_fault: str | None = None

    def __post_init__(self):
        if not is_loopback(self.host) and self.curve_dir is None:
            raise ServerError(f"refusing to listen on {self.host} without encryption: off loopback the server "
                              "needs CurveZMQ keys. Create them with `python -m server keys --curve-dir KEYS "
                              "--client NAME` and pass --curve-dir KEYS (curve_dir), or bind 127.0.0.1.")


@dataclass
class _Undelivered:
    """A terminal reply waiting for its client (I/O thread only)."""

    client: bytes
    job_id: str | None  # the owed job it ends, or None for another reply
    frames: list[bytes]
    deadline: float


class VoxelServer:
    """Serve one or more generators (diffusion_core.pipeline.VoxelGenerator, or any server.contract.Generator)
    over ZeroMQ, each under its model_name; the first is the default, what a request without `model` gets.

    start() binds, warms up, starts both threads and returns the bound address; stop() answers
    every pending job (error `shutting_down`), joins the threads and closes the sockets.
    """

    def __init__(self, generators: Generator | Sequence[Generator], config: ServerConfig):
        generators = [generators] if isinstance(generators, Generator) else list(generators)
        self.generators = {g.model_name: g for g in generators}
        if not generators or len(self.generators) != len(generators):
            raise ServerError(f"serve at least one model, each under its own name; got {[g.model_name for g in generators]}"
                              " (a checkpoint's name is its file name unless it stores model_name)")
        self.config = config
        for g in generators:
            if g.resolution > config.limits.max_resolution:
                raise ServerError(f"model {g.model_name}'s {g.resolution}^3 grid exceeds max resolution "
                                  f"{config.limits.max_resolution}; raise --max-resolution if the machine can take it")
        models = tuple(ModelInfo(g.model_name, tuple(g.class_names), g.resolution, g.channels,
                                 min(config.limits.max_steps, g.max_steps), g.hue_conditional) for g in generators)
        default = models[0]
        limits = replace(config.limits, max_steps=default.max_steps)
        self.info = ServerInfo(server_version=__version__, model_name=default.name, class_names=default.class_names,
                               resolution=default.resolution, channels=default.channels, limits=limits,
                               instance_id=uuid.uuid4().hex, models=models)
        self.queue = JobQueue(limits.max_queue, max(config.max_batch, limits.max_count))
        self.context = zmq.Context()
        self.address = ""
        self._auth = None
        self._stop = threading.Event()
        self._io: threading.Thread | None = None
        self._owed: dict[bytes, set[str]] = {}  # client -> ids of its jobs still owed a terminal reply
        self._undelivered: dict[bytes, deque[_Undelivered]] = {}  # per client, in send order
        self._drops = RateLimitedLog(log)
        self._compute_deaths: deque[float] = deque()
        self.fatal: str | None = None  # why the server gave up (compute thread keeps dying); serve exits
        self.worker = self._new_worker(config.test_fault)

    def _new_worker(self, fault: str | None = None) -> Worker:
        return Worker(self.context, self.generators, self.queue, max_message_bytes=self.info.limits.max_message_bytes,
                      progress_interval_s=self.config.progress_interval_s, fault=fault)

    @property
    def compute_alive(self) -> bool:
        """Whether jobs can run: the compute thread runs, or it died and is about to be restarted."""
        return self.fatal is None and (self.worker.is_alive() or self._restart_due)

    @property
    def _restart_due(self) -> bool:
        """The compute thread died with a recorded failure and the server is neither stopping nor given up:
        the socket thread's next _supervise_compute answers its jobs and restarts it (or gives up)."""
        return (not self.worker.is_alive() and self.worker.failure is not None and self.fatal is None
                and not self._stop.is_set())

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        try:
            self._router = self._bind()
        except (zmq.ZMQError, OSError, ValueError) as e:
            self.context.destroy(linger=0)
            raise ServerError(f"cannot listen on {self.config.host}:{self.config.port}: {e}") from e
        self._outbox = self.context.socket(zmq.PULL)
        self._outbox.rcvhwm = OUTBOX_HWM
        self._outbox.bind(OUTBOX)
        for generator in self.generators.values():
            generator.generate([0], [0], steps=self.config.warmup_steps, sampler="ddim", eta=0.0, guidance=1.0)
        self.worker.start()
        self._io = threading.Thread(target=self._serve, name="voxd-io", daemon=True)
        self._io.start()
        return self.address

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._io is not None:
            self._io.join(timeout)
        if self._auth is not None:
            self._auth.stop()
        self.context.destroy(linger=0)

    def _bind(self) -> zmq.Socket:
        sock = self.context.socket(zmq.ROUTER)
        sock.linger = 0
        sock.router_mandatory = 1
        sock.router_handover = 1  # a reconnecting client (same routing id) takes over its jobs
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
        sock.sndhwm, sock.rcvhwm = SEND_HWM, RECEIVE_HWM
        sock.heartbeat_ivl, sock.heartbeat_timeout = 1000, 3000  # notice silently vanished peers
        if self.config.curve_dir is not None:
            from server.keys import configure_server_curve

            self._auth = configure_server_curve(self.context, sock, self.config.curve_dir)
        if is_ipv6_literal(self.config.host):
            sock.ipv6 = 1
        sock.bind(tcp_address(self.config.host, self.config.port or "*"))
        self.address = sock.last_endpoint.decode()
        return sock

    # ------------------------------------------------------------------ I/O thread
    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._outbox, zmq.POLLIN)
        closing, flush_until = False, 0.0
        try:
            while True:
                if (self._stop.is_set() or self.fatal) and not closing:
                    closing, flush_until = True, time.monotonic() + SHUTDOWN_FLUSH_S
                    why = self.fatal or "the server is shutting down; restart it and try again"
                    for job in self.queue.close():
                        if job.finish():
                            self._send(job.client, reply(job.job_id, ErrorReply(SHUTTING_DOWN, why)))
                self._supervise_compute()
                self._retry_undelivered()
                events = dict(poller.poll(50))
                for _ in range(OUTBOX_HWM if self._outbox in events else 0):  # drain what the compute side sent
                    try:
                        self._forward(self._outbox.recv_multipart(flags=zmq.NOBLOCK, copy=False))
                    except zmq.Again:
                        break
                if self._router in events:
                    frames = self._router.recv_multipart(copy=False)
                    try:
                        self._handle(frames[0].bytes, frames[1:])
                    except Exception:  # never let one message take the server down
                        log.exception("failed to handle a message")
                flushed = not self._undelivered or time.monotonic() > flush_until
                if closing and not events and not self.worker.is_alive() and flushed:
                    return
        finally:
            self._router.close()
            self._outbox.close()

    def _supervise_compute(self) -> None:
        """If the compute thread died: answer the jobs it held, then restart it, or give up (`fatal`)
        after more than max_compute_restarts deaths within a minute. Nothing to do once closing."""
        if not self._restart_due:
            return
        failure = self.worker.failure
        held = [j for j in self.worker.held if j.finish()] + self.queue.release_running()
        now = time.monotonic()
        self._compute_deaths.append(now)
        while now - self._compute_deaths[0] > COMPUTE_RESTART_WINDOW_S:
            self._compute_deaths.popleft()
        give_up = len(self._compute_deaths) > self.config.max_compute_restarts
        after = "the server is exiting" if give_up else "it was restarted"
        for job in held:
            self._send(job.client, reply(job.job_id, ErrorReply(INTERNAL, (
                f"the server's compute thread failed while running this job ({failure}); {after}: "
                "submit the job again, and see the server log"))))
        if give_up:
            self.fatal = (f"the compute thread failed {len(self._compute_deaths)} times within "
                          f"{COMPUTE_RESTART_WINDOW_S:.0f} s, last: {failure}")
            log.critical("giving up: %s", self.fatal)
            return
        log.error("the compute thread died (%s); failed %d job(s) it held; restarting it", failure, len(held))
        self.worker = self._new_worker()
        self.worker.start()

    def _forward(self, frames: list[zmq.Frame]) -> None:
        """A compute-thread message: [client, terminal job id or b"", *message frames]."""
        job_id = frames[1].bytes.decode()  # b"": progress, the only non-terminal message the compute side sends
        self._deliver(frames[0].bytes, frames[2:], job_id or None, droppable=not job_id)

    def _send(self, client: bytes, msg: Message) -> None:
        """Send a reply from this thread (kept and retried if it cannot go out now, see _deliver)."""
        owed = msg.is_terminal and msg.parent_id in self._owed.get(client, ())
        self._deliver(client, encode(msg), msg.parent_id if owed else None, droppable=False)

    def _route(self, client: bytes, frames: list) -> None:
        """One send attempt (raises zmq.ZMQError); the single place that writes to the ROUTER."""
        self._router.send_multipart([client, *frames], flags=zmq.NOBLOCK, copy=False)

    def _deliver(self, client: bytes, frames: list, terminal_job: str | None, droppable: bool) -> None:
        """Send to a client. `terminal_job`: the owed job this reply ends. A reply that cannot go out
        now (full pipe, peer reconnecting), or must wait behind an earlier one, is kept and retried,
        and pauses the client's queued jobs until it is delivered: every owed terminal reply, and up
        to MAX_KEPT_REPLIES others (a slow consumer loses the rest). `droppable` (progress) messages
        are dropped instead: the next one supersedes them."""
        backlog = self._undelivered.get(client)
        if backlog and not droppable:  # keep this client's replies in order
            self._keep(client, terminal_job, frames)
            return
        try:
            self._route(client, frames)
        except zmq.ZMQError as e:
            if e.errno == zmq.EHOSTUNREACH:
                self._client_gone(client)
            if droppable:
                log.debug("dropped a progress message to %s: %s", client.hex(), e)
            else:
                log.debug("reply to %s not delivered (%s); retrying for %.0f s", client.hex(), e,
                          self.config.undelivered_grace_s)
                self._keep(client, terminal_job, frames)
            return
        if terminal_job is not None:
            self._discharge(client, terminal_job)

    def _keep(self, client: bytes, job_id: str | None, frames: list) -> None:
        backlog = self._undelivered.get(client, ())
        if job_id is None and sum(item.job_id is None for item in backlog) >= MAX_KEPT_REPLIES:
            self._drops.warning("dropped a reply to %s, which is not reading its replies", client.hex())
            return
        frames = [f.bytes if isinstance(f, zmq.Frame) else bytes(f) for f in frames]
        if client not in self._undelivered:
            self._undelivered[client] = deque()
            self.queue.pause(client, True)
        self._undelivered[client].append(
            _Undelivered(client, job_id, frames, time.monotonic() + self.config.undelivered_grace_s))

    def _retry_undelivered(self) -> None:
        for client in list(self._undelivered):
            backlog = self._undelivered[client]
            while backlog:
                item = backlog[0]
                try:
                    self._route(client, item.frames)
                except zmq.ZMQError as e:
                    if time.monotonic() < item.deadline:
                        break
                    log.warning("gave up on a reply (job %s) to %s after %.0f s: %s", item.job_id,
                                client.hex(), self.config.undelivered_grace_s, e)
                backlog.popleft()
                if item.job_id is not None:
                    self._discharge(client, item.job_id)
            if not backlog:
                del self._undelivered[client]
                self.queue.pause(client, False)

    def _discharge(self, client: bytes, job_id: str) -> None:
        owed = self._owed.get(client)
        if owed is not None:
            owed.discard(job_id)
            if not owed:
                del self._owed[client]

    def _client_gone(self, client: bytes) -> None:
        """The client is unreachable: stop its jobs; each is answered `lost` (kept for a reconnect)."""
        dropped = self.queue.drop_client(client)
        for job in dropped:
            self._send(client, reply(job.job_id, ErrorReply(LOST, CLIENT_GONE_MESSAGE)))
        if dropped:
            log.info("client %s has gone away; dropped %d queued job(s)", client.hex(), len(dropped))

    def _handle(self, client: bytes, frames: list[zmq.Frame]) -> None:
        self._supervise_compute()  # a thread that died since the loop's check: its jobs are answered first
        try:
            msg = decode(frames, MAX_REQUEST_BYTES)
        except ProtocolError as e:
            if e.parent_id is None:  # nothing to answer to: no client could match the reply
                self._drops.warning("dropped a message from %s without a readable id: %s", client.hex(),
                                    f"{e.code}: {e.message}")
            else:
                self._send(client, reply(e.parent_id, ErrorReply(e.code, e.message)))
            return
        handler = {Hello: self._on_hello, Ping: self._on_ping, GenerateRequest: self._on_generate,
                   Cancel: self._on_cancel}.get(type(msg.body))
        if handler is None:
            body: Body = ErrorReply(INVALID_REQUEST, f"'{msg.type}' is a reply, not a request; send "
                                    "hello, ping, generate or cancel")
        else:
            body = handler(client, msg)
        if body is not None:
            self._send(client, reply(msg.msg_id, body))

    def _on_hello(self, client: bytes, msg: Message) -> Body:
        return self.info

    def _on_ping(self, client: bytes, msg: Message) -> Body:
        return Pong(instance_id=self.info.instance_id, queued=len(self.queue),
                    jobs=tuple(sorted(self._owed.get(client, ()))), compute=self.compute_alive)

    def _on_generate(self, client: bytes, msg: Message) -> Body | None:
        req: GenerateRequest = msg.body
        lim, model = self.info.limits, self.info.model(req.model)
        if not self.compute_alive:
            return ErrorReply(INTERNAL, "the server's compute thread is not running; restart the server")
        if msg.msg_id in self._owed.get(client, ()):  # not that job's terminal reply: sent as a plain one
            self._deliver(client, encode(reply(msg.msg_id, ErrorReply(
                INVALID_REQUEST, "a job with this msg_id is already pending: give each generate message its own id"))),
                None, droppable=False)
            return None
        if model is None:
            return ErrorReply(UNKNOWN_MODEL, f"this server has no model {show(req.model)}; it serves: "
                              f"{', '.join(m.name for m in self.info.models)}")
        if req.count > lim.max_count or req.steps > model.max_steps:
            return ErrorReply(LIMIT_EXCEEDED, f"this server allows at most {lim.max_count} objects and, for model "
                              f"{model.name}, {model.max_steps} steps per request; got count={req.count}, "
                              f"steps={req.steps}")
        if req.hue is not None and not model.hue_conditional:
            coloured = ", ".join(m.name for m in self.info.models if m.hue_conditional) or "none here"
            return ErrorReply(INVALID_REQUEST, f"model {model.name} takes no colour: leave 'hue' out, or ask a model "
                              f"whose info says hue_conditional ({coloured})")
        grid = (model.channels,) + (model.resolution,) * 3
        if req.init is not None and req.init.shape != grid:
            return ErrorReply(INVALID_REQUEST, f"'init' must be a {list(grid)} grid for model {model.name}, got "
                              f"{list(req.init.shape)}: voxelise the block-out at the model's resolution")
        voxel_bytes = req.count * model.channels * model.resolution**3 * 4
        if "voxels" in req.outputs and voxel_bytes > lim.max_message_bytes:
            return ErrorReply(LIMIT_EXCEEDED, f"{req.count} grids need {voxel_bytes} bytes, over the "
                              f"{lim.max_message_bytes}-byte message limit: ask for fewer objects")
        names = list(model.class_names)
        label = req.class_label
        if isinstance(label, str):
            if label not in names:
                return ErrorReply(UNKNOWN_CLASS, f"this model has no class {show(label)}; it knows: {', '.join(names)}")
            label = names.index(label)
        elif label >= len(names):
            return ErrorReply(UNKNOWN_CLASS, f"class index {label} is out of range: this model has "
                              f"{len(names)} classes ({', '.join(names)})")
        job = QueuedJob(client=client, job_id=msg.msg_id, request=replace(req, model=model.name), label=label,
                        class_name=names[label])
        try:
            admitted = self.queue.submit(job)
        except QueueClosed:
            return ErrorReply(SHUTTING_DOWN, "the server is shutting down; restart it and try again")
        except QueueFull as full:
            return ErrorReply(QUEUE_FULL, f"this client already has {full.share} queued jobs, its fair share of "
                              f"this server's {lim.max_queue} queue slots while others are queueing too; wait "
                              "for some to finish or cancel them, then retry")
        if admitted.evicted is not None:
            gone = admitted.evicted
            self._send(gone.client, reply(gone.job_id, ErrorReply(QUEUE_FULL, (
                "this queued job was dropped to make room for another client's: this client held more "
                "than its fair share of the queue; submit it again later"))))
        self._owed.setdefault(client, set()).add(job.job_id)
        self._send(client, reply(msg.msg_id, Accepted(queue_position=admitted.ahead)))
        return None

    def _on_cancel(self, client: bytes, msg: Message) -> Body | None:
        state = self.queue.cancel(client, msg.body.job_id)
        if state is None:
            return ErrorReply(UNKNOWN_JOB, f"no queued or running job {show(msg.body.job_id)} from this client "
                              "(it may have finished already)")
        if state == "dropped":  # a running job is answered by the compute thread at its next step
            self._send(client, reply(msg.body.job_id, Cancelled()))
        return None
