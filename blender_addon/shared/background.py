"""Talking to the server off Blender's main thread (bpy-free).

`run_generation` is the blocking path (scripts, `blender -b`, the API). `BackgroundJob` runs the same
function on a worker thread and posts events to a `queue.Queue`, which the add-on drains from a
`bpy.app.timers` callback on the main thread; bpy is never touched here. `ServerMonitor` keeps a
readable server status fresh for the panel.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from . import meshing
from .client import DEFAULT_TIMEOUT_S, ClientError, VoxelClient
from .generation import NO_HUE, GeneratedObject, GenerationParams, GridSource, StartGrid, palette_kwargs
from .meshing import MeshArrays
from .palette import rgb_to_lab, snap_to_palette
from .protocol import (DEFAULT_PORT, Cancelled, ErrorReply, GenerateRequest, GenerateResult, MeshData, Progress,
                       ServerInfo)

EDIT_PROTOCOL = (1, 4)
"""The protocol version whose servers understand init, strength, region and blend_seed (older ones ignore them)."""


@dataclass(frozen=True)
class ProgressEvent:
    """Step `step` of `total` done; preview: the server's low-resolution guess of the final objects, float16
    [N, C, r, r, r] in [0, 1] (r <= 16), when the job asked for one."""

    step: int
    total: int
    preview: np.ndarray | None = None

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


@dataclass(frozen=True)
class DoneEvent:
    """One GeneratedObject per generated object, in seed (or blend) order."""

    objects: tuple[GeneratedObject, ...]
    model_name: str


@dataclass(frozen=True)
class FailedEvent:
    message: str


@dataclass(frozen=True)
class CancelledEvent:
    pass


JobEvent = ProgressEvent | DoneEvent | FailedEvent | CancelledEvent


@dataclass(frozen=True)
class ServerAddress:
    """Where the server is. `timeout_s`: the longest wait on the server (the client's timeout: an
    absent, dead, hung or compute-dead server is reported within it; while a job runs the client
    pings after a quarter of it of silence). A job that gets no event for `lost_job_timeouts` *
    timeout_s although the server answers pings is given up as lost (a safety net behind the
    client's own check of the server's job list)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = 1
    lost_job_timeouts: int = 20

    @property
    def lost_job_after_s(self) -> float:
        return self.lost_job_timeouts * self.timeout_s

    def connect(self, quick: bool = False) -> VoxelClient:
        """A client (use it as a context manager: entering says hello). `quick`: one short try."""
        if quick:
            return VoxelClient(self.host, self.port, timeout_s=min(self.timeout_s, 2.0), retries=0)
        return VoxelClient(self.host, self.port, timeout_s=self.timeout_s, retries=self.retries)


def make_request(params: GenerationParams, count: int, grid: StartGrid | None = None,
                 preview: bool = False) -> GenerateRequest:
    """Smooth meshes come from the server (it has scikit-image); cubes are built here from voxels, which
    always come back (palette snaps, regions and .vox export need them). `grid`: the start grid (init at
    params.strength, and its region); a blend asks for `count` in-betweens from params.seed to blend_seed."""
    smooth = params.mesh_style == "smooth"
    edit: dict = {} if not params.is_blend else {"blend_seed": params.blend_seed}
    if grid is not None:
        edit |= {"init": grid.init, "strength": params.strength, "region": grid.region}
    elif params.from_grid:
        raise ValueError(f"{params.object_name()} was made from a grid (strength {params.strength:g}"
                         f"{', a regenerated region' if params.inpainted else ''}): its request needs that grid")
    return GenerateRequest(
        class_label=params.class_name,
        model=params.model,
        seed=params.seed,
        count=count,
        steps=params.steps,
        sampler=params.sampler,
        guidance=params.guidance,
        outputs=("voxels", "mesh") if smooth else ("voxels",),
        mesh_style=params.mesh_style,
        alpha_threshold=params.alpha_threshold,
        mesh_size=params.mesh_size,
        join_parts=params.join_parts,
        hue=None if params.hue == NO_HUE else params.hue,
        preview=preview,
        **edit,
    )


def _mesh_arrays(mesh: MeshData) -> MeshArrays:
    if mesh.color_domain == "vertex":
        return MeshArrays(mesh.vertices, mesh.faces, vertex_colors=mesh.colors)
    return MeshArrays(mesh.vertices, mesh.faces, face_colors=mesh.colors)


def result_objects(params: GenerationParams, result: GenerateResult,
                   grid: StartGrid | None = None) -> tuple[GeneratedObject, ...]:
    """Server result -> one GeneratedObject per object (params with its seed, or its place in a blend).

    Cubes are meshed here from the voxels. With a palette the voxels are snapped first (palette.py); a
    smooth mesh keeps the server's surface (a snap changes no alpha) and gets the vertex colours smooth_mesh
    would give the snapped grid, each then set to its nearest palette colour (so Blender, which has no
    scikit-image, never runs marching cubes). With a region (`grid.region`) a snap uses the colours the
    kept voxels already have, and every voxel outside the region is `grid.init`'s, exactly."""
    out = []
    blend = params.is_blend
    for i, seed in enumerate(result.seeds):
        p = replace(params, blend_index=i, blend_count=len(result.seeds)) if blend else params.with_seed(seed)
        voxels, palette = snap_voxels(result.voxels[i], p, grid)
        if p.mesh_style == "cubes":
            mesh = meshing.cube_mesh(voxels, p.alpha_threshold, p.mesh_size)
        else:
            mesh = _mesh_arrays(result.meshes[i])
            if palette is not None and len(mesh.vertices):
                mesh = MeshArrays(mesh.vertices, mesh.faces, vertex_colors=_snapped_vertex_colors(voxels, mesh, p, palette))
        out.append(GeneratedObject(p, mesh, voxels))
    return tuple(out)


def snap_voxels(voxels: np.ndarray, params: GenerationParams,
                grid: StartGrid | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(voxels with colours snapped to params.palette, the palette [K, 3]); unchanged and None without a
    palette, or for a model without colours (one channel). With a region, the palette is the colours of the
    kept (outside) voxels when there are any, and the outside is pasted back from grid.init."""
    kwargs = palette_kwargs(params.palette)
    region = grid.region if grid is not None else None
    if region is not None and kwargs and voxels.shape[0] == 4:
        kept = grid.init[:, ~region & (grid.init[-1] >= params.alpha_threshold)]
        if kept.size:
            kwargs = {"palette": np.unique(kept[:3].T, axis=0)[:256]}
    palette = None
    if kwargs and voxels.shape[0] == 4:
        voxels, palette = snap_to_palette(voxels, params.alpha_threshold, **kwargs)
    if region is not None:
        voxels = np.where(region[None], voxels, grid.init).astype(np.float32)
    return voxels, palette


def _snapped_vertex_colors(voxels: np.ndarray, mesh: MeshArrays, params: GenerationParams,
                           palette: np.ndarray) -> np.ndarray:
    colors = meshing.smooth_vertex_colors(voxels, mesh.vertices, params.alpha_threshold, params.mesh_size)
    lab, centres = rgb_to_lab(colors[:, :3]), rgb_to_lab(palette)
    nearest = np.argmin(((lab[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    colors[:, :3] = palette[nearest]
    return colors


class ServerLostJob(ClientError):
    """The server answers pings but has sent nothing about the job for too long."""


def _wait(client: VoxelClient, jobs: list, address: ServerAddress, cancel: threading.Event,
          on_progress: Callable[[ProgressEvent], None]) -> None:
    """Poll until every job has its terminal reply (the client heartbeats meanwhile).

    Raises ServerUnavailable (the server fell silent for `address.timeout_s`, or its compute thread
    is down) or ServerLostJob (pings answered, but no event for `address.lost_job_after_s`; the
    unfinished jobs are cancelled on the server first, best effort)."""
    last_event = time.monotonic()
    cancel_sent = False
    while not all(job.done for job in jobs):
        if cancel.is_set() and not cancel_sent:
            for job in jobs:
                job.cancel()
            cancel_sent = True
        events = client.poll(timeout_ms=100)
        now = time.monotonic()
        if events:
            last_event = now
        elif now - last_event > address.lost_job_after_s:
            _give_up(jobs)
            raise ServerLostJob(f"the server lost the job (no news of it for {address.lost_job_after_s:g} s "
                                "although the server answers); try again")
        for _, body in events:
            if isinstance(body, Progress):
                on_progress(ProgressEvent(body.step, body.total, body.preview))


def _give_up(jobs: list) -> None:
    """Ask the server to drop jobs we stop waiting for (it may still hold them, e.g. queued)."""
    for job in jobs:
        try:
            job.cancel()
        except ClientError:
            pass


def run_generation(
    address: ServerAddress,
    params: GenerationParams,
    count: int = 1,
    on_event: Callable[[JobEvent], None] = lambda event: None,
    cancel: threading.Event | None = None,
    grid: StartGrid | GridSource | None = None,
    preview: bool = False,
) -> JobEvent:
    """Generate `count` objects (seeds params.seed + i; a blend: its in-betweens) to the end, blocking.
    `preview`: ask for the low-resolution guess of the result with every progress event.
    `grid`: the start grid, or a function making it for the server's model (run here, off the main thread).
    Reports every event to `on_event` and returns the terminal one (DoneEvent, FailedEvent or
    CancelledEvent). Never raises for server trouble or a bad grid; a dead server ends the job within
    `address.timeout_s` (+ 0.1 s)."""
    try:
        with address.connect() as client:
            start = resolve_grid(grid, client.info, params)
            job = client.submit(make_request(params, count, start, preview))
            _wait(client, [job], address, cancel or threading.Event(), on_event)
            event = _terminal_event(params, job.terminal, served_model(client.info, params.model), start)
    except (ClientError, ValueError) as e:
        event = FailedEvent(str(e))
    except Exception as e:  # noqa: BLE001 - a worker thread must always report back
        event = FailedEvent(f"{type(e).__name__}: {e}")
    on_event(event)
    return event


def resolve_grid(grid: StartGrid | GridSource | None, info: ServerInfo, params: GenerationParams) -> StartGrid | None:
    """The start grid for the model `params` names on this server. Raises ValueError when the server serves
    no such model or is too old for edits (it would ignore the grid and generate from noise)."""
    needs_edit = grid is not None or params.is_blend
    version = tuple(int(v) for v in info.protocol_version.split(".")[:2] if v.isdigit())
    if needs_edit and version < EDIT_PROTOCOL:
        raise ValueError(f"the server speaks protocol {info.protocol_version}; start grids, regions and blends need "
                         f"{'.'.join(map(str, EDIT_PROTOCOL))} or later: update the server")
    if grid is None or isinstance(grid, StartGrid):
        return grid
    model = info.model(params.model)
    if model is None:
        raise ValueError(f"the server has no model {params.model!r}; it serves: {', '.join(m.name for m in info.models)}")
    return grid(model)


def served_model(info: ServerInfo | None, model: str) -> str:
    """The name of the model a request naming `model` runs on ("" for the server's default)."""
    found = info.model(model) if info is not None else None
    return found.name if found is not None else model


class GenerationError(RuntimeError):
    """A scripted generation failed (server unavailable, invalid request, ...)."""


def generate_many(address: ServerAddress, params: list[GenerationParams],
                  grids: Sequence[StartGrid | GridSource | None] | None = None) -> tuple[list[GeneratedObject], str]:
    """All objects at once (blocking): every request is submitted before waiting, so the server can
    batch compatible ones (edited requests run alone). `grids[i]`: params[i]'s start grid (see
    run_generation). A blend's params give its whole row. Returns ([GeneratedObject] in input order, model
    name); raises GenerationError (also for a bad grid)."""
    grids = list(grids) if grids is not None else [None] * len(params)
    try:
        with address.connect() as client:
            grids = [resolve_grid(g, client.info, p) for p, g in zip(params, grids)]
            jobs = [client.submit(make_request(p, p.count, g)) for p, g in zip(params, grids)]
            _wait(client, jobs, address, threading.Event(), lambda progress: None)
            model_name = served_model(client.info, params[0].model) if params else ""
    except (ClientError, ValueError) as e:
        raise GenerationError(str(e)) from e
    out = []
    for p, job, g in zip(params, jobs, grids):
        event = _terminal_event(p, job.terminal, model_name, g)
        if not isinstance(event, DoneEvent):
            raise GenerationError(f"{p.object_name()}: {getattr(event, 'message', 'cancelled')}")
        out.extend(event.objects)
    return out, model_name


def _terminal_event(params: GenerationParams, body, model_name: str, grid: StartGrid | None = None) -> JobEvent:
    if isinstance(body, GenerateResult):
        return DoneEvent(result_objects(params, body, grid), model_name)
    if isinstance(body, Cancelled):
        return CancelledEvent()
    if isinstance(body, ErrorReply):
        return FailedEvent(body.message)
    return FailedEvent(f"unexpected reply {body!r}")


class BackgroundJob:
    """`run_generation` on a daemon thread; events arrive in `self.events` (a queue.Queue)."""

    def __init__(self, address: ServerAddress, params: GenerationParams, count: int = 1,
                 grid: StartGrid | GridSource | None = None, preview: bool = False):
        self.params = params
        self.count = count
        self.events: queue.Queue[JobEvent] = queue.Queue()
        self._cancel = threading.Event()
        self._thread = threading.Thread(
            target=run_generation, args=(address, params, count, self.events.put, self._cancel, grid, preview),
            name="voxel-diffusion-job", daemon=True,
        )

    def start(self) -> BackgroundJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def drain(self) -> list[JobEvent]:
        """All events posted so far (non-blocking)."""
        events = []
        while True:
            try:
                events.append(self.events.get_nowait())
            except queue.Empty:
                return events


@dataclass(frozen=True)
class ServerStatus:
    """What the panel shows: connected (with the server's info) or why not; `checking`: a new
    check is under way (the other fields are still the previous result)."""

    connected: bool
    reason: str
    info: ServerInfo | None = None
    checked_at: float = 0.0
    checking: bool = False

    def lines(self) -> list[str]:
        """The panel's status text: the server's model and versions when connected, else why not."""
        info = self.info
        if not self.connected or info is None:
            return [self.reason]
        names = ", ".join(m.name for m in info.models)
        return [f"Model{'s' if len(info.models) > 1 else ''}: {names or '(unnamed)'}",
                f"{len(info.class_names)} classes, {info.resolution}³ voxels",
                f"Server {info.server_version or '?'}, protocol {info.protocol_version}"]


def check_server(address: ServerAddress) -> ServerStatus:
    """A hello and a ping round trip (blocking, each bounded by the address timeout): a server whose
    compute thread is down is reported as not connected."""
    try:
        with address.connect(quick=True) as client:
            info = client.info
            client.ping()
    except ClientError as e:
        return ServerStatus(False, str(e), checked_at=time.monotonic())
    except Exception as e:  # noqa: BLE001
        return ServerStatus(False, f"{type(e).__name__}: {e}", checked_at=time.monotonic())
    return ServerStatus(True, f"{info.model_name}: {len(info.class_names)} classes, {info.resolution}³",
                        info, time.monotonic())


class ServerMonitor:
    """Checks the server every `interval_s` on a daemon thread; `status` is always the latest.
    Never blocks the caller: `refresh` only wakes the thread (the UI's Connect button). A check that
    was under way when `refresh` was called is dropped, so an old address's answer never shows."""

    def __init__(self, address: ServerAddress, interval_s: float = 3.0):
        self.address = address
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.status = ServerStatus(False, "Checking the server…", checking=True)
        self._thread = threading.Thread(target=self._loop, name="voxel-diffusion-monitor", daemon=True)

    def start(self) -> ServerMonitor:
        self._thread.start()
        return self

    def refresh(self, address: ServerAddress | None = None) -> None:
        """Check again now (at a new address if given); returns at once, `status.checking` is
        True until the check is done."""
        with self._lock:
            if address is not None:
                self.address = address
            self.status = replace(self.status, checking=True)
            self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._wake.clear()
                address = self.address
            status = check_server(address)
            with self._lock:
                if not self._wake.is_set():  # else a refresh came in: its check runs next
                    self.status = status
            self._wake.wait(self._interval_s)
