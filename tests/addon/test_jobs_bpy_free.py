"""jobs.py without Blender: the lost-job deadline, dead-server detection on the timer and blocking paths,
the non-blocking monitor, the status text."""
import threading
import time

import pytest

from blender_addon.shared.generation import GenerationParams
from blender_addon.shared.background import (BackgroundJob, FailedEvent, ProgressEvent, ServerAddress, ServerMonitor, ServerStatus,
                                check_server, run_generation)
from tests.addon.fake_server import INFO, FakeServer

PARAMS = GenerationParams("chair", 1, steps=5)


def _address(port: int, lost_job_timeouts: int = 5) -> ServerAddress:
    return ServerAddress("127.0.0.1", port, timeout_s=0.2, retries=0, lost_job_timeouts=lost_job_timeouts)


def _bounded(address: ServerAddress, **kwargs):
    """run_generation on a thread: a missing deadline fails the test instead of hanging it."""
    result = []
    thread = threading.Thread(target=lambda: result.append(run_generation(address, PARAMS, **kwargs)), daemon=True)
    thread.start()
    thread.join(10)
    assert result, "the job never ended"
    return result[0]


def test_job_the_server_keeps_quiet_about_fails_after_the_deadline():
    with FakeServer(pong_jobs=True) as server:  # answers pings and claims the job, but never sends news
        start = time.monotonic()
        event = _bounded(_address(server.port))
        elapsed = time.monotonic() - start
        time.sleep(0.1)
    assert isinstance(event, FailedEvent) and "the server lost the job" in event.message and "try again" in event.message
    assert 1.0 <= elapsed < 3.0, elapsed  # 5 * 0.2 s of silence
    assert server.pings >= 3  # it kept answering meanwhile
    assert server.cancelled == server.jobs  # the abandoned job was cancelled on the server


def test_a_job_missing_from_the_pong_fails_at_that_ping_long_before_the_deadline():
    with FakeServer(pong_jobs=False) as server:  # the client's own check (its pong lists no jobs)
        start = time.monotonic()
        event = _bounded(_address(server.port, lost_job_timeouts=50))
    assert isinstance(event, FailedEvent) and "submit it again" in event.message
    assert time.monotonic() - start < 2.0


def test_servers_without_job_lists_are_covered_by_the_deadline_too():
    with FakeServer(pong_jobs=None) as server:
        event = _bounded(_address(server.port))
    assert isinstance(event, FailedEvent) and "lost" in event.message


def test_progress_keeps_a_slow_job_alive_past_the_deadline():
    events = []
    with FakeServer(progress_steps=12, progress_interval_s=0.15, finish=True) as server:
        start = time.monotonic()
        event = _bounded(_address(server.port, lost_job_timeouts=2), on_event=events.append)
    assert time.monotonic() - start > 12 * 0.15 > 2 * 0.2  # longer than the silence limit
    assert isinstance(event, FailedEvent) and event.message == "finished"  # its own terminal reply
    assert [e.step for e in events if isinstance(e, ProgressEvent)] == list(range(1, 13))


def test_monitor_refresh_returns_at_once_and_reports_checking(dead_port):
    with FakeServer() as server:
        monitor = ServerMonitor(_address(dead_port), interval_s=60).start()
        try:
            _wait_for(lambda: not monitor.status.checking, 5)
            assert not monitor.status.connected
            start = time.monotonic()
            monitor.refresh(_address(server.port))
            assert time.monotonic() - start < 0.05 and monitor.status.checking
            _wait_for(lambda: not monitor.status.checking, 5)
            assert monitor.status.connected and monitor.status.info.model_name == "fake-model"
        finally:
            monitor.stop()


class _RecordingMonitor(ServerMonitor):
    """Keeps every status the thread publishes, so a state visible for a millisecond is not missed."""

    @property
    def status(self) -> ServerStatus:
        return self._history[-1]

    @status.setter
    def status(self, value: ServerStatus) -> None:
        self.__dict__.setdefault("_history", []).append(value)


def test_a_check_in_flight_when_refresh_is_called_never_publishes_its_stale_answer(dead_port):
    """Connect pressed while the start-up check of the old address is still waiting: the status must go from
    "Checking" straight to the new address's answer, never through the old address's failure."""
    with FakeServer() as server:
        monitor = _RecordingMonitor(ServerAddress("127.0.0.1", dead_port, timeout_s=1.0, retries=0), 60).start()
        try:
            time.sleep(0.2)  # the first check is now waiting on the dead port
            monitor.refresh(_address(server.port))
            _wait_for(lambda: not monitor.status.checking, 5)
            assert monitor.status.connected
            assert all(s.checking for s in monitor._history[:-1]), [s.reason for s in monitor._history]
        finally:
            monitor.stop()


def test_status_lines_show_model_and_versions():
    lines = ServerStatus(True, "ok", INFO).lines()
    assert lines[0] == "Model: fake-model" and "2 classes, 8³" in lines[1]
    assert lines[2] == f"Server 9.9.9, protocol {INFO.protocol_version}"
    assert ServerStatus(False, "no server answered").lines() == ["no server answered"]


def _wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        threading.Event().wait(0.02)


# ----------------------------------------------------------------------------- dead-server detection
# At the default settings (ServerAddress(): client timeout 2 s), each of these must fail within 3 s.
DETECTION_BOUND_S = 3.0


def _timer_path(address: ServerAddress) -> tuple[object, float]:
    """The add-on's UI path: a BackgroundJob drained the way the timer does; (terminal event, seconds)."""
    job = BackgroundJob(address, PARAMS).start()
    start = time.monotonic()
    while time.monotonic() - start < 10:
        for event in job.drain():
            if not isinstance(event, ProgressEvent):
                return event, time.monotonic() - start
        time.sleep(0.1)  # the timer's period while a job runs
    raise AssertionError("the job never ended")


def _blocking_path(address: ServerAddress) -> tuple[object, float]:
    start = time.monotonic()
    return _bounded(address), time.monotonic() - start


@pytest.mark.parametrize("path", [_timer_path, _blocking_path])
def test_a_hung_server_is_declared_dead_within_3_s(path):
    """The server accepts the job, then nothing: no progress, no pongs (a hung process; TCP stays up)."""
    with FakeServer(hang=True) as server:
        event, elapsed = path(ServerAddress("127.0.0.1", server.port))
    assert isinstance(event, FailedEvent) and "stopped answering" in event.message, event
    assert elapsed < DETECTION_BOUND_S, elapsed


@pytest.mark.parametrize("path", [_timer_path, _blocking_path])
def test_a_server_whose_compute_thread_is_down_counts_as_dead(path):
    with FakeServer(compute=False) as server:  # answers pings, but its pongs say it cannot run jobs
        event, elapsed = path(ServerAddress("127.0.0.1", server.port))
    assert isinstance(event, FailedEvent) and "compute thread is not running" in event.message, event
    assert elapsed < DETECTION_BOUND_S
    with FakeServer(compute=False) as server:
        status = check_server(ServerAddress("127.0.0.1", server.port))
    assert not status.connected and "compute thread" in status.reason


@pytest.mark.parametrize("path", [_timer_path, _blocking_path])
def test_no_server_fails_within_3_s_at_the_default_settings(path, dead_port):
    event, elapsed = path(ServerAddress("127.0.0.1", dead_port))
    assert isinstance(event, FailedEvent) and "no Voxel Diffusion server answered" in event.message
    assert elapsed < DETECTION_BOUND_S, elapsed


def test_heartbeats_keep_a_job_alive_whose_progress_is_slower_than_the_timeout():
    """No progress for 3 s (longer than the 2 s timeout), but pongs keep coming: the job lives."""
    with FakeServer(progress_steps=2, progress_interval_s=1.5, finish=True) as server:
        event, elapsed = _blocking_path(ServerAddress("127.0.0.1", server.port))
    assert isinstance(event, FailedEvent) and event.message == "finished" and elapsed > 2.0
    assert server.pings >= 4  # a heartbeat at least every 0.5 s of silence
