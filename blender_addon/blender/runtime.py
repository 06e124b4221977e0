"""Main-thread state of the add-on: server status, the running job, and the timer that applies results.

Network work happens on threads (jobs.BackgroundJob, jobs.ServerMonitor); `tick`, registered with
`bpy.app.timers`, drains their events on the main thread, builds objects, pushes one undo step per
generation and redraws the panel. Under `blender -b` timers never fire: operators then run the
blocking path (`jobs.run_generation`) instead.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from . import ADDON_PACKAGE, scene_build
from ..shared.generation import GenerationParams, GridSource, StartGrid
from ..shared.background import (BackgroundJob, CancelledEvent, DoneEvent, FailedEvent, ProgressEvent, ServerAddress, ServerMonitor,
                   ServerStatus, check_server)
from ..shared.server_process import LocalServer

LOCAL_SERVER = LocalServer(restart_on_crash=True)  # a crashed server is started again (and said so)
STATUS_MESSAGE_SECONDS = 8.0


@dataclass
class Target:
    """Where a job's objects go: new objects in a row from `location`, or into `replace` (object name; the
    job's result `pick` goes there: a blend's in-between is regenerated with its whole row)."""

    scene_name: str
    location: tuple[float, float, float] = (0.0, 0.0, 0.0)
    replace: str | None = None
    pick: int = 0


@dataclass
class _State:
    monitor: ServerMonitor | None = None
    status: ServerStatus = field(default_factory=lambda: ServerStatus(False, "Not checked yet"))
    job: BackgroundJob | None = None
    target: Target | None = None
    progress: ProgressEvent | None = None
    preview_shown_at: float = 0.0  # when the preview object was last updated (monotonic s)
    message: str = ""
    message_is_error: bool = False
    status_bar_until: float = 0.0
    connect_scene: str | None = None  # Connect pressed in this scene: pick a class once the check is in
    local_server_reported: bool = False
    local_server_notice: str = ""


STATE = _State()


def preferences():
    """The add-on preferences, or None when the add-on is not registered as an add-on."""
    addon = bpy.context.preferences.addons.get(ADDON_PACKAGE)
    return addon.preferences if addon is not None else None


def server_address() -> ServerAddress:
    prefs = preferences()
    if prefs is None:
        return ServerAddress()
    return ServerAddress(prefs.host, prefs.port, prefs.timeout)


def server_status() -> ServerStatus:
    if STATE.monitor is not None and STATE.monitor.status.checked_at >= STATE.status.checked_at:
        return STATE.monitor.status
    return STATE.status


def model_names() -> list[str]:
    """The server's models, its default first ([] until connected)."""
    info = server_status().info
    return [m.name for m in info.models] if info is not None else []


def class_names(model: str = "") -> list[str]:
    """The classes of the server's `model` ("" or an unknown name: its default model)."""
    info = server_status().info
    if info is None:
        return []
    return list((info.model(model) or info.models[0]).class_names)


def takes_hue(model: str = "") -> bool:
    """Whether the server's `model` ("" or an unknown name: its default) takes a main colour."""
    info = server_status().info
    return info is not None and (info.model(model) or info.models[0]).hue_conditional


def refresh_server() -> None:
    """Ask the monitor thread to check again; returns at once (the panel shows "Checking…")."""
    if STATE.monitor is not None:
        STATE.monitor.refresh(server_address())


def connect(scene_name: str) -> None:
    """The UI's Connect: a background check; `tick` picks a known class in the scene when it is in."""
    STATE.connect_scene = scene_name
    refresh_server()


def check_server_now() -> ServerStatus:
    """Blocking check: only for `blender -b` (no timers); never call it from the UI."""
    STATE.status = check_server(server_address())
    return STATE.status


def pick_known_class(settings, status: ServerStatus) -> None:
    """Select the server's default model when the scene's model is not one it serves, and that model's first
    class when the scene's class is not one of its classes."""
    if status.info is None:
        return
    if status.info.model(settings.model) is None:
        settings.model = status.info.models[0].name
    names = class_names(settings.model)
    if names and settings.class_name not in names:
        settings.class_name = names[0]


def job_running() -> bool:
    return STATE.job is not None


PREVIEW_EVERY_S = 0.25
"""The live preview is rebuilt at most this often (a 16³ cube mesh takes a few milliseconds)."""


def start_job(params: GenerationParams, count: int, target: Target, grid: StartGrid | GridSource | None = None,
              preview: bool = False) -> None:
    """Run a job in the background; `preview`: show the server's low-resolution guess of the first object as a
    temporary object at the target while it runs (replaced by the result; removed on cancel or error)."""
    STATE.job = BackgroundJob(server_address(), params, count, grid, preview).start()
    STATE.target = target
    STATE.progress = None
    _set_message("")


def cancel_job() -> None:
    if STATE.job is not None:
        STATE.job.cancel()


def apply_result(done: DoneEvent, target: Target) -> list[bpy.types.Object]:
    """Build (or replace) the objects of a finished job and push one undo step for all of them."""
    scene = bpy.data.scenes.get(target.scene_name) or bpy.context.scene
    replace = bpy.data.objects.get(target.replace) if target.replace else None
    objects = scene_build.commit_results(done.objects, scene, target.location, replace=replace, pick=target.pick,
                                         model_name=done.model_name)
    scene_build.undo_push("Voxel Diffusion: " + ", ".join(o.name for o in objects))
    return objects


def _after_connect() -> None:
    status = server_status()
    if STATE.connect_scene is None or status.checking:
        return
    scene = bpy.data.scenes.get(STATE.connect_scene)
    STATE.connect_scene = None
    if status.connected and scene is not None:
        pick_known_class(scene.voxel_diffusion, status)
        _set_message(f"Connected: {status.reason}")
    elif not status.connected:
        _set_message(f"No server: {status.reason}", error=True)


def _report_local_server() -> None:
    """Say once when the local server exits with an error (a bad checkpoint, a missing package...), and
    once when it crashed and was restarted automatically."""
    if LOCAL_SERVER.notice != STATE.local_server_notice:
        STATE.local_server_notice = LOCAL_SERVER.notice
        if LOCAL_SERVER.notice:
            _set_message(LOCAL_SERVER.notice, error=True)
    error = LOCAL_SERVER.error
    if error is None:
        STATE.local_server_reported = False
    elif not STATE.local_server_reported and not LOCAL_SERVER.reading:
        STATE.local_server_reported = True
        _set_message(error, error=True)


def tick() -> float:
    """Timer callback: apply the running job's events; returns the delay until the next call."""
    if STATE.monitor is not None and STATE.monitor.address != (address := server_address()):
        STATE.monitor.refresh(address)
    _after_connect()
    _report_local_server()
    job, target = STATE.job, STATE.target
    if job is not None:
        for event in job.drain():
            if isinstance(event, ProgressEvent):
                STATE.progress = event
                _show_preview(event, job.params, target)
                continue
            scene_build.remove_preview()
            if isinstance(event, DoneEvent):
                objects = apply_result(event, target)
                _set_message(f"Generated {', '.join(o.name for o in objects)}")
            elif isinstance(event, FailedEvent):
                _set_message(f"Generation failed: {event.message}", error=True)
            elif isinstance(event, CancelledEvent):
                _set_message("Generation cancelled")
            STATE.job, STATE.target, STATE.progress = None, None, None
    if STATE.status_bar_until and time.monotonic() > STATE.status_bar_until:
        STATE.status_bar_until = 0.0
        _status_bar(None)
    _redraw()
    return 0.1 if STATE.job is not None else 0.5


def _show_preview(event: ProgressEvent, params: GenerationParams, target: Target) -> None:
    """Update the preview object from a progress event's guess (at most every PREVIEW_EVERY_S; never for a job
    that replaces an object in place: the object itself stays visible)."""
    now = time.monotonic()
    if event.preview is None or target.replace or now - STATE.preview_shown_at < PREVIEW_EVERY_S:
        return
    scene = bpy.data.scenes.get(target.scene_name)
    if scene is not None:
        scene_build.show_preview(scene, event.preview[0], params, target.location)
        STATE.preview_shown_at = now


def show_message(text: str, error: bool = False) -> None:
    """Show `text` in the panel (and the status bar for a while): e.g. an operator's input error."""
    _set_message(text, error)


def _set_message(text: str, error: bool = False) -> None:
    STATE.message, STATE.message_is_error = text, error
    if text:
        print(f"Voxel Diffusion: {text}")
        _status_bar(text)
        STATE.status_bar_until = time.monotonic() + STATUS_MESSAGE_SECONDS


def _windows():
    wm = bpy.context.window_manager
    return list(wm.windows) if wm is not None else []


def _status_bar(text: str | None) -> None:
    for window in _windows():
        window.workspace.status_text_set(text)


def _redraw() -> None:
    for window in _windows():
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def user_path(*parts: str) -> Path:
    """A writable folder for add-on data: the extension's user directory when installed as one."""
    try:
        return Path(bpy.utils.extension_path_user(ADDON_PACKAGE, path="/".join(parts), create=True))
    except (ValueError, KeyError):  # not installed as an extension (e.g. registered from sys.path)
        path = Path(bpy.app.tempdir or "/tmp").joinpath("voxel_diffusion", *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


def start_local_server() -> None:
    """Start the server configured in the preferences (returns at once; raises ValueError / OSError)."""
    prefs = preferences()
    if prefs is None or not prefs.python_path or not prefs.checkpoint:
        raise ValueError("Set the Python executable and the checkpoint in the add-on preferences")
    project = bpy.path.abspath(prefs.project_folder) if prefs.project_folder else None
    LOCAL_SERVER.start(bpy.path.abspath(prefs.python_path), bpy.path.abspath(prefs.checkpoint), prefs.host,
                       prefs.port, user_path("logs") / "server.log", threads=prefs.threads or None,
                       project_folder=project)
    refresh_server()


def register_runtime() -> None:
    STATE.monitor = ServerMonitor(server_address()).start()
    bpy.app.timers.register(tick, first_interval=0.5, persistent=True)
    prefs = preferences()
    if prefs is not None and prefs.auto_start and prefs.python_path and prefs.checkpoint:
        try:
            start_local_server()
        except (OSError, ValueError) as e:
            _set_message(f"Could not start the local server: {e}", error=True)


def unregister_runtime() -> None:
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    cancel_job()
    scene_build.remove_preview()
    STATE.job = STATE.target = None
    if STATE.monitor is not None:
        STATE.monitor.stop()
        STATE.monitor = None
    LOCAL_SERVER.stop(wait=False)  # SIGTERM now; a thread kills it if it lingers (never blocks the UI)
