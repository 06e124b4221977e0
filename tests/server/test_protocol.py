"""Protocol round trips and validation, without sockets."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blender_addon import protocol as p


def roundtrip(msg: p.Message) -> p.Message:
    return p.decode([bytes(f) for f in p.encode(msg)])


def frames_for(mtype: str, content: dict, header: dict | None = None, arrays=()) -> list[bytes]:
    h = {"msg_id": "m1", "type": mtype, "parent_id": None, "version": p.PROTOCOL_VERSION, "time": 1.0,
         "arrays": list(arrays)}
    h.update(header or {})
    return [p.PROTOCOL_ID, json.dumps(h).encode(), json.dumps(content).encode()]


def test_every_body_type_round_trips():
    rng = np.random.default_rng(0)
    mesh = p.MeshData(rng.random((4, 3), np.float32), np.array([[0, 1, 2, 3]], np.int32),
                      rng.random((1, 4), np.float32), "face")
    bodies = [p.Hello("t"), p.ServerInfo(model_name="m", class_names=("a", "b"), resolution=16, instance_id="i"),
              p.GenerateRequest(class_label="a", seed=p.MAX_SEED, count=3, steps=7, sampler="ddpm", eta=0.5,
                                guidance=20.0, outputs=("mesh",), mesh_style="cubes", preview=True),
              p.Accepted(3), p.Progress(2, 5, rng.random((1, 4, 2, 2, 2)).astype(np.float16)),
              p.GenerateResult("a", (1, 2), rng.random((2, 4, 3, 3, 3), np.float32), (mesh,)),
              p.ErrorReply(p.UNKNOWN_CLASS, "no"), p.Cancel("j"), p.Cancelled(), p.Ping(), p.Pong("i", 2)]
    for body in bodies:
        msg = p.Message(body, parent_id="parent")
        back = roundtrip(msg)
        assert (back.type, back.msg_id, back.parent_id) == (body.TYPE, msg.msg_id, "parent")
        for name, value in vars(body).items():
            got = getattr(back.body, name)
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(got, value)
            elif name != "meshes":
                assert got == value, name
    result = roundtrip(p.Message(bodies[5])).body
    np.testing.assert_array_equal(result.meshes[0].faces, mesh.faces)
    assert result.meshes[0].color_domain == "face"


def test_generate_defaults_and_unknown_fields_ignored():
    msg = p.decode(frames_for("generate", {"class_label": "chair", "future_field": [1, 2]}))
    assert msg.body == p.GenerateRequest(class_label="chair")
    assert msg.body.seeds == [0]
    assert p.GenerateRequest(seed=p.MAX_SEED, count=2).seeds == [p.MAX_SEED, 0]


@pytest.mark.parametrize("field, value", [
    ("seed", -1), ("seed", 2**32), ("seed", 1.5), ("seed", True), ("count", 0), ("count", p.MAX_COUNT + 1),
    ("steps", 0), ("sampler", "euler"), ("eta", 1.5), ("eta", "0"), ("guidance", 21), ("guidance", -1),
    ("outputs", []), ("outputs", ["voxels", "points"]), ("outputs", ["mesh", "mesh"]), ("outputs", "voxels"),
    ("mesh_style", "blocky"), ("alpha_threshold", 1.01), ("class_label", -1), ("class_label", None),
    ("class_label", 1.0), ("preview", 1),
])
def test_generate_field_validation(field, value):
    with pytest.raises(p.ProtocolError) as e:
        p.decode(frames_for("generate", {field: value}))
    assert e.value.code == p.INVALID_REQUEST and field in e.value.message and e.value.parent_id == "m1"
    with pytest.raises(p.ProtocolError):
        p.GenerateRequest(**{field: value})


def test_wrong_version_and_unknown_type_are_explicit():
    frames = frames_for("ping", {})
    with pytest.raises(p.ProtocolError) as e:
        p.decode([b"VOXD/2", *frames[1:]])
    assert e.value.code == p.BAD_VERSION and "VOXD/2" in e.value.message
    with pytest.raises(p.ProtocolError) as e:
        p.decode(frames_for("ping", {}, {"version": "2.0"}))
    assert e.value.code == p.BAD_VERSION and e.value.parent_id == "m1"
    with pytest.raises(p.ProtocolError) as e:
        p.decode(frames_for("teleport", {}))
    assert e.value.code == p.UNKNOWN_TYPE and e.value.parent_id == "m1"
    with pytest.raises(p.ProtocolError) as e:
        p.decode([b"GET / HTTP/1.1", b"{}", b"{}"])
    assert e.value.code == p.BAD_FRAMES


def test_array_declarations_are_checked():
    spec = {"name": "preview", "dtype": "float32", "shape": [1, 1, 2, 2, 2]}
    ok = frames_for("progress", {"step": 1, "total": 2}, arrays=[spec]) + [np.zeros(8, np.float32).tobytes()]
    assert p.decode(ok).body.preview.shape == (1, 1, 2, 2, 2)
    bad_size = ok[:-1] + [b"\0" * 31]
    bad_dtype = frames_for("progress", {"step": 1, "total": 2}, arrays=[dict(spec, dtype="object")]) + ok[-1:]
    missing = ok[:-1]
    for frames in (bad_size, bad_dtype, missing):
        with pytest.raises(p.ProtocolError) as e:
            p.decode(frames)
        assert e.value.code == p.BAD_HEADER
    with pytest.raises(p.ProtocolError) as e:
        p.decode(ok, max_bytes=100)
    assert e.value.code == p.TOO_LARGE


def test_result_mesh_indices_checked():
    mesh = p.MeshData(np.zeros((3, 3), np.float32), np.array([[0, 1, 3]], np.int32), np.zeros((3, 4), np.float32),
                      "vertex")
    with pytest.raises(p.ProtocolError, match="outside"):
        roundtrip(p.Message(p.GenerateResult("a", (1,), None, (mesh,))))


def test_nan_is_not_json():
    frames = frames_for("generate", {})
    frames[2] = b'{"eta": NaN}'
    with pytest.raises(p.ProtocolError) as e:
        p.decode(frames)
    assert e.value.code == p.BAD_CONTENT


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                                     max_size=4), max_leaves=12)
keys = st.sampled_from(["msg_id", "type", "parent_id", "version", "time", "arrays", "name", "dtype", "shape",
                        "step", "total", "seeds", "class_label", "mesh_color_domains", "limits"])
headers = st.fixed_dictionaries({
    "msg_id": st.one_of(st.just("m"), json_values), "type": st.sampled_from(sorted(p.BODY_TYPES)) | st.text(max_size=5),
    "version": st.just(p.PROTOCOL_VERSION) | json_values, "time": st.just(1.0) | json_values,
    "parent_id": st.none() | json_values,
    "arrays": st.lists(st.fixed_dictionaries({"name": st.text(max_size=4) | json_values,
                                              "dtype": st.sampled_from(p.DTYPES) | json_values,
                                              "shape": st.lists(st.integers(-2, 4), max_size=6) | json_values}),
                       max_size=3) | json_values,
}, optional={"extra": json_values})


@settings(max_examples=300, deadline=None)
@given(header=headers, content=st.dictionaries(keys | st.text(max_size=6), json_values, max_size=6) | json_values,
       buffers=st.lists(st.binary(max_size=40), max_size=4), pid=st.sampled_from([p.PROTOCOL_ID, b"VOXD/9", b"x"]))
def test_decode_fuzz_only_raises_protocol_error(header, content, buffers, pid):
    frames = [pid, json.dumps(header).encode(), json.dumps(content).encode(), *buffers]
    try:
        p.decode(frames)
    except p.ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(st.binary(max_size=64), max_size=6))
def test_decode_raw_bytes_only_raises_protocol_error(frames):
    try:
        p.decode(frames)
    except p.ProtocolError:
        pass


def test_pong_jobs_and_empty_meshes_round_trip():
    pong = p.decode(p.encode(p.Message(p.Pong(instance_id="i", queued=2, jobs=("a", "b"))))).body
    assert pong.jobs == ("a", "b")
    assert p.decode(p.encode(p.Message(p.Pong(instance_id="i")))).body.jobs is None  # a 1.0 server
    empty = p.MeshData(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32), np.zeros((0, 4), np.float32),
                       "vertex")
    got = p.decode(p.encode(p.Message(p.GenerateResult("chair", (1,), None, (empty,))))).body.meshes[0]
    assert got.vertices.shape == (0, 3) and got.faces.shape == (0, 3) and got.colors.shape == (0, 4)


def test_tcp_addresses_bracket_ipv6():
    assert p.tcp_address("::1", 5557) == "tcp://[::1]:5557" == p.tcp_address("[::1]", 5557)
    assert p.tcp_address("127.0.0.1", "*") == "tcp://127.0.0.1:*"
    assert p.split_tcp_address("tcp://[::1]:5557") == ("::1", 5557)
    assert p.split_tcp_address("tcp://host:1") == ("host", 1)
    with pytest.raises(ValueError):
        p.split_tcp_address("tcp://host")
