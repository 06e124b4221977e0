"""The server over real loopback sockets (in-thread server, tiny untrained model)."""
from __future__ import annotations

import json
import statistics
import time

import numpy as np
import pytest
import zmq

from blender_addon.shared import protocol as p
from blender_addon.shared.client import JobCancelled, JobFailed, VoxelClient

from diffusion_core.joining import join_parts

from .conftest import port_of

LONG = dict(steps=1000, sampler="ddpm", count=4)  # a few seconds on the tiny model


@pytest.fixture
def server(make_server):
    return make_server()


def client_for(server, **kw) -> VoxelClient:
    c = VoxelClient("127.0.0.1", port_of(server.address), timeout_s=kw.pop("timeout_s", 3.0), **kw)
    c.hello()
    return c


def test_hello_reports_model_and_limits(server):
    c = client_for(server)
    try:
        assert c.info.class_names == ("chair", "table", "lamp")
        assert (c.info.resolution, c.info.channels, c.info.protocol_version) == (8, 4, p.PROTOCOL_VERSION)
        assert c.info.limits.max_count == 8 and set(c.info.samplers) == {"ddpm", "ddim", "dpmpp_2m", "dpmpp_2m_sde"}
    finally:
        c.close()


def test_generate_round_trip_progress_in_order_one_terminal(server, generator):
    c = client_for(server)
    try:
        req = p.GenerateRequest(class_label="table", seed=5, count=2, steps=6, outputs=("voxels", "mesh"),
                                alpha_threshold=0.5, preview=True, guidance=2.0)
        job = c.submit(req)
        events = list(job.events(timeout_s=30))
        assert isinstance(events[0], p.Accepted)
        steps = [e.step for e in events if isinstance(e, p.Progress)]
        assert steps and steps == sorted(steps) and steps[-1] <= 6
        assert [e.TYPE for e in events].count("result") == 1 and events[-1].TYPE == "result"
        assert all(e.preview.shape == (2, 4, 8, 8, 8) for e in events if isinstance(e, p.Progress))
        result = job.result()
        expected = join_parts(generator.generate([1, 1], [5, 6], steps=6, guidance=2.0), 0.5)  # as the server joins
        np.testing.assert_allclose(result.voxels, expected, atol=1e-5)
        assert result.seeds == (5, 6) and result.class_name == "table" and len(result.meshes) == 2
        assert c.poll(200) == []  # nothing after the terminal message
    finally:
        c.close()


def test_batched_requests_match_solo_results(make_server, generator):
    server = make_server(max_batch=8)
    c = client_for(server)
    try:
        blocker = c.submit(p.GenerateRequest(steps=100, count=1))  # keeps the worker busy so the next two queue
        a = c.submit(p.GenerateRequest(class_label=0, seed=11, count=2, steps=4))
        b = c.submit(p.GenerateRequest(class_label=2, seed=99, count=1, steps=4))
        blocker.result(timeout_s=30)
        ra, rb = a.result(timeout_s=30), b.result(timeout_s=30)
        # a and b (same steps/sampler/eta/guidance) ran as ONE model batch of 3 samples after the blocker
        assert (server.worker.batches_run, server.worker.largest_batch) == (2, 3)
        np.testing.assert_allclose(ra.voxels, join_parts(generator.generate([0, 0], [11, 12], steps=4), 0.9), atol=1e-5)
        np.testing.assert_allclose(rb.voxels, join_parts(generator.generate([2], [99], steps=4), 0.9), atol=1e-5)
    finally:
        c.close()


def _queue_three_jobs(c, good_kw: dict, odd_kw: dict):
    """A blocker, then good / odd / good jobs of one batch key (so they are batched together)."""
    blocker = c.submit(p.GenerateRequest(steps=100, count=1))
    jobs = [c.submit(p.GenerateRequest(steps=3, seed=seed, **kw))
            for seed, kw in ((1, good_kw), (666, odd_kw), (2, good_kw))]
    blocker.result(timeout_s=30)
    return jobs


def test_failed_post_processing_fails_only_its_own_job(make_server, monkeypatch):
    import server.worker as worker_module

    real = worker_module.build_result

    def flaky(voxels, request, class_name):
        if request.seed == 666:
            raise RuntimeError("boom while meshing")
        return real(voxels, request, class_name)

    monkeypatch.setattr(worker_module, "build_result", flaky)
    server = make_server(max_batch=8)
    c = client_for(server)
    try:
        good1, bad, good2 = _queue_three_jobs(c, {}, {})
        assert good1.result(timeout_s=30).voxels.shape == (1, 4, 8, 8, 8)
        assert good2.result(timeout_s=30).voxels.shape == (1, 4, 8, 8, 8)
        with pytest.raises(JobFailed) as e:
            bad.result(timeout_s=30)
        assert e.value.code == p.INTERNAL and "boom while meshing" in e.value.message
        assert (server.worker.batches_run, server.worker.largest_batch) == (2, 3)  # they really were batched
    finally:
        c.close()


def test_smooth_mesh_at_threshold_one_is_empty_and_does_not_fail_the_batch(make_server):
    server = make_server(max_batch=8)
    c = client_for(server)
    try:
        mesh = dict(outputs=("voxels", "mesh"), mesh_style="smooth")
        good1, odd, good2 = _queue_three_jobs(c, dict(mesh, alpha_threshold=0.5), dict(mesh, alpha_threshold=1.0))
        for job in (good1, good2):
            assert job.result(timeout_s=30).meshes[0].vertices.shape[1] == 3
        m = odd.result(timeout_s=30).meshes[0]
        assert m.vertices.shape == (0, 3) and m.faces.shape == (0, 3) and m.colors.shape == (0, 4)
        assert server.worker.largest_batch == 3
    finally:
        c.close()


def test_cancel_running_job_stops_within_a_step(server, monkeypatch):
    steps_at_cancel = []
    real_cancel = server.queue.cancel

    def recording_cancel(client, job_id):  # runs on the server's I/O thread when the cancel arrives
        steps_at_cancel.append(server.worker.steps_run)
        return real_cancel(client, job_id)

    monkeypatch.setattr(server.queue, "cancel", recording_cancel)
    c = client_for(server)
    try:
        job = c.submit(p.GenerateRequest(**LONG))
        first = next(job.progress(timeout_s=30))
        t0 = time.monotonic()
        job.cancel()
        with pytest.raises(JobCancelled):
            job.result(timeout_s=10)
        assert time.monotonic() - t0 < 2.0 and job.latest.step < 1000 and first.total == 1000
        # the step in flight when the cancel arrived finishes; no further one starts
        assert len(steps_at_cancel) == 1 and server.worker.steps_run - steps_at_cancel[0] <= 1
        assert c.submit(p.GenerateRequest(steps=2)).result(timeout_s=10).voxels.shape == (1, 4, 8, 8, 8)
    finally:
        c.close()


def _header_type(frames) -> str:
    header = frames[1]
    raw = bytes(header.buffer) if isinstance(header, zmq.Frame) else bytes(header)
    return json.loads(raw)["type"]


def _failing_route(server, monkeypatch, msg_type: str, errno: int, times: int) -> list:
    """Make the server's first `times` sends of `msg_type` messages fail with `errno`."""
    real, failed = server._route, []

    def route(client, frames):
        if _header_type(frames) == msg_type and len(failed) < times:
            failed.append(msg_type)
            raise zmq.ZMQError(errno)
        return real(client, frames)

    monkeypatch.setattr(server, "_route", route)
    return failed


def test_terminal_reply_hitting_eagain_is_retried_not_dropped(server, monkeypatch):
    failed = _failing_route(server, monkeypatch, "result", zmq.EAGAIN, times=3)
    c = client_for(server)
    try:
        assert c.submit(p.GenerateRequest(steps=2)).result(timeout_s=10).voxels.shape == (1, 4, 8, 8, 8)
        assert failed == ["result"] * 3
    finally:
        c.close()


def test_jobs_dropped_on_an_unreachable_client_are_answered_lost(server, monkeypatch):
    """The client's connection blips (e.g. it reconnects) mid-job: the server drops the job, and the
    client gets a clear `lost` error instead of waiting forever."""
    c = client_for(server, timeout_s=0.5)
    try:
        job = c.submit(p.GenerateRequest(**LONG))
        next(job.progress(timeout_s=30))
        _failing_route(server, monkeypatch, "progress", zmq.EHOSTUNREACH, times=1)
        t0 = time.monotonic()
        with pytest.raises(JobFailed) as e:
            job.result(timeout_s=10)
        assert e.value.code == p.LOST and "submit it again" in e.value.message
        assert time.monotonic() - t0 < 3.0 and job.latest.step < 1000
    finally:
        c.close()


def test_client_fails_a_job_the_server_does_not_know_within_bounded_time(server, monkeypatch):
    """The generate request never reaches the server (lost in a reconnect): pings keep succeeding,
    but their pongs do not list the job, so the client raises instead of waiting forever."""
    c = client_for(server, timeout_s=0.5)
    real_send = c._send
    monkeypatch.setattr(c, "_send", lambda msg: None if msg.type == "generate" else real_send(msg))
    try:
        lost = c.submit(p.GenerateRequest(steps=2))
        t0 = time.monotonic()
        with pytest.raises(JobFailed) as e:
            lost.result(timeout_s=10)
        assert e.value.code == p.LOST and time.monotonic() - t0 < 0.5 + 1.5
        monkeypatch.setattr(c, "_send", real_send)
        job = c.submit(p.GenerateRequest(**LONG))  # a job the server has stays pending across pings
        next(job.progress(timeout_s=30))
        pong = c._request(p.Ping()).body
        assert pong.jobs == (job.id,)
        c.ping()
        assert not job.done
        job.cancel()
        with pytest.raises(JobCancelled):
            job.result(timeout_s=10)
        assert c._request(p.Ping()).body.jobs == ()
    finally:
        c.close()


def test_ipv6_loopback(make_server):
    server = make_server(host="::1")
    assert server.address.startswith("tcp://[::1]:")
    c = VoxelClient("::1", port_of(server.address), timeout_s=3)
    try:
        assert c.submit(p.GenerateRequest(steps=2)).result(timeout_s=10).voxels is not None
    finally:
        c.close()


def test_non_loopback_config_requires_curve(tmp_path):
    from server.app import ServerConfig, ServerError

    with pytest.raises(ServerError, match="curve-dir"):
        ServerConfig(host="0.0.0.0")
    with pytest.raises(ServerError):
        ServerConfig(host="2001:db8::1")
    assert ServerConfig(host="0.0.0.0", curve_dir=tmp_path).host == "0.0.0.0"
    assert ServerConfig(host="::1").host == "::1"


def test_cancel_queued_job_drops_it(server):
    c = client_for(server)
    try:
        running = c.submit(p.GenerateRequest(**LONG))
        queued = c.submit(p.GenerateRequest(steps=5, sampler="ddpm", count=1, seed=3))  # different key: not batched
        next(running.progress(timeout_s=30))
        queued.cancel()
        events = list(queued.events(timeout_s=10))
        assert [e.TYPE for e in events] == ["accepted", "cancelled"] and events[0].queue_position == 1
        running.cancel()
        with pytest.raises(JobCancelled):
            running.result(timeout_s=10)
        bogus = c._request(p.Cancel(job_id="nope")).body
        assert bogus.code == p.UNKNOWN_JOB
    finally:
        c.close()


def test_two_concurrent_clients_both_served(server):
    c1, c2 = client_for(server), client_for(server)
    try:
        j1 = c1.submit(p.GenerateRequest(class_label="chair", steps=5, seed=1))
        j2 = c2.submit(p.GenerateRequest(class_label="lamp", steps=5, seed=2, sampler="ddpm"))
        r1, r2 = j1.result(timeout_s=30), j2.result(timeout_s=30)
        assert (r1.class_name, r2.class_name) == ("chair", "lamp")
    finally:
        c1.close()
        c2.close()


def test_bad_messages_get_errors_then_valid_request_succeeds(server):
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.rcvtimeo = 5000
    sock.connect(server.address)
    try:
        header = {"msg_id": "a1", "type": "ping", "parent_id": None, "version": "1.0", "time": 0.0, "arrays": []}
        cases = [
            ([b"VOXD/2", json.dumps(header).encode(), b"{}"], p.BAD_VERSION),
            ([p.PROTOCOL_ID, json.dumps(dict(header, version="7.1")).encode(), b"{}"], p.BAD_VERSION),
            ([p.PROTOCOL_ID, b"{not json", b"{}"], None),  # no readable id: dropped (and logged)
            ([b"hello"], None),
            ([p.PROTOCOL_ID, json.dumps(dict(header, msg_id="\ud800x")).encode(), b"{}"], None),
            ([p.PROTOCOL_ID, json.dumps(dict(header, type={})).encode(), b"{}"], p.UNKNOWN_TYPE),
            ([p.PROTOCOL_ID, json.dumps(dict(header, time=10**400)).encode(), b"{}"], p.BAD_HEADER),
            ([p.PROTOCOL_ID, json.dumps(dict(header, type="dance")).encode(), b"{}"], p.UNKNOWN_TYPE),
            ([p.PROTOCOL_ID, json.dumps(dict(header, type="generate")).encode(), b'{"steps": -3}'],
             p.INVALID_REQUEST),
            (p.encode(p.Message(p.GenerateRequest(class_label="sofa"))), p.UNKNOWN_CLASS),
            (p.encode(p.Message(p.GenerateRequest(count=8, steps=1001))), p.LIMIT_EXCEEDED),
            (p.encode(p.Message(p.Pong())), p.INVALID_REQUEST),
        ]
        for frames, code in cases:
            sock.send_multipart(frames)
            if code is None:
                assert not sock.poll(300), "a message without a readable id must not be answered"
                continue
            reply = p.decode(sock.recv_multipart())
            assert reply.type == "error" and reply.body.code == code, (code, reply)
            assert reply.body.message and reply.parent_id == json.loads(bytes(frames[1]))["msg_id"]
        ping = p.Message(p.Ping())
        sock.send_multipart(p.encode(ping))
        pong = p.decode(sock.recv_multipart())
        assert pong.type == "pong" and pong.parent_id == ping.msg_id
    finally:
        sock.close()
    c = client_for(server)
    try:
        assert c.submit(p.GenerateRequest(steps=2)).result(timeout_s=10).voxels is not None
        with pytest.raises(JobFailed) as e:
            c.submit(p.GenerateRequest(class_label=7)).result(timeout_s=10)
        assert e.value.code == p.UNKNOWN_CLASS and "chair" in e.value.message
    finally:
        c.close()


def test_ping_fast_during_long_job(server):
    worker, pinger = client_for(server), client_for(server)
    try:
        job = worker.submit(p.GenerateRequest(**LONG))
        next(job.progress(timeout_s=30))
        rtts = [pinger.ping() for _ in range(15)]
        assert job.state == "running" and not job.done
        assert statistics.median(rtts) < 0.1 and max(rtts) < 0.5, rtts
        job.cancel()
        with pytest.raises(JobCancelled):
            job.result(timeout_s=10)
    finally:
        worker.close()
        pinger.close()


def test_jobs_of_a_departed_client_are_dropped(server):
    c = client_for(server)
    job = c.submit(p.GenerateRequest(**LONG))
    next(job.progress(timeout_s=30))
    c.close()
    deadline = time.monotonic() + 5
    while len(server.queue) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.queue) == 0
    other = client_for(server)
    try:
        assert other.submit(p.GenerateRequest(steps=2)).result(timeout_s=10).voxels is not None
    finally:
        other.close()


def test_absent_server_raises_within_bounded_time():
    from blender_addon.shared.client import ServerUnavailable

    with zmq.Context() as ctx:
        s = ctx.socket(zmq.ROUTER)
        port = s.bind_to_random_port("tcp://127.0.0.1")
        s.close()  # a port nobody listens on
    c = VoxelClient("127.0.0.1", port, timeout_s=0.3, retries=1)
    t0 = time.monotonic()
    with pytest.raises(ServerUnavailable, match="python -m server serve"):
        c.hello()
    assert time.monotonic() - t0 < 1.5
    c.close()


def test_generate_cli_through_server(server, tmp_path, capsys):
    from server import generate_cmd

    rc = generate_cmd.main(["--server", server.address, "--class", "1", "--seed", "3", "--steps", "2",
                            "--alpha-threshold", "0.5", "--format", "obj", "--out", str(tmp_path)])
    assert rc == 0, capsys.readouterr().err
    assert sorted(f.name for f in tmp_path.iterdir()) == ["table_3.npz", "table_3.obj"]
