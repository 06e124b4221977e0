"""Protocol round trips and validation, without sockets."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blender_addon.shared import protocol as p
from blender_addon.shared.settings import MAX_SEED


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
              p.GenerateRequest(class_label="a", seed=MAX_SEED, count=3, steps=7, sampler="ddpm", eta=0.5,
                                guidance=20.0, outputs=("mesh",), mesh_style="cubes", preview=True, join_parts=False),
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
    assert msg.body.join_parts  # a 1.4 client that never heard of it gets joined objects
    assert msg.body.seeds == [0]
    assert p.GenerateRequest(seed=MAX_SEED, count=2).seeds == [MAX_SEED, 0]


@pytest.mark.parametrize("field, value", [
    ("seed", -1), ("seed", 2**32), ("seed", 1.5), ("seed", True), ("count", 0), ("count", p.MAX_COUNT + 1),
    ("steps", 0), ("sampler", "euler"), ("eta", 1.5), ("eta", "0"), ("guidance", 21), ("guidance", -1),
    ("outputs", []), ("outputs", ["voxels", "points"]), ("outputs", ["mesh", "mesh"]), ("outputs", "voxels"),
    ("mesh_style", "blocky"), ("alpha_threshold", 1.01), ("class_label", -1), ("class_label", None),
    ("class_label", 1.0), ("preview", 1), ("join_parts", 0), ("join_parts", "yes"),
    ("hue", -0.1), ("hue", 1.5), ("hue", "red"), ("hue", True),
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


# Arbitrary JSON, not just well-typed values: any text (lone surrogates included, which JSON allows as
# "\\ud800" escapes), integers far outside 64 bits, floats, and nesting, in every field of every type.
any_text = st.text(st.characters(codec=None, categories=None, exclude_categories=()), max_size=8)
json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(-10**400, 10**400) | st.just(10**400)
                | st.floats(allow_nan=False) | any_text | st.sampled_from(["\ud800x", "\udfff", "x" * 300]))
json_values = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(any_text, kids, max_size=4), max_leaves=12)
deep = st.integers(1, 3000).map(lambda depth: json.loads("[" * depth + "]" * depth) if depth < 900 else None)
field_names = sorted({name for body in p.BODY_TYPES.values() for name in getattr(body, "__dataclass_fields__", {})}
                     | {"limits", "protocol_version", "mesh_color_domains", "jobs", "compute", "job_id", "client"})
headers = st.fixed_dictionaries({
    "msg_id": st.one_of(st.just("m"), json_values), "type": st.sampled_from(sorted(p.BODY_TYPES)) | json_values,
    "version": st.just(p.PROTOCOL_VERSION) | json_values, "time": st.just(1.0) | json_values,
    "parent_id": st.none() | json_values,
    "arrays": st.lists(st.fixed_dictionaries({"name": st.text(max_size=4) | json_values,
                                              "dtype": st.sampled_from(p.DTYPES) | json_values,
                                              "shape": st.lists(st.integers(-2, 2**32) | json_values, max_size=6)
                                              | json_values}),
                       max_size=3) | json_values,
}, optional={"extra": json_values})
contents = st.dictionaries(st.sampled_from(field_names) | any_text, json_values | deep, max_size=8) | json_values


def _dumps_raw(value) -> bytes:
    """JSON as a hostile peer may send it: Python's encoder escapes lone surrogates, so they survive."""
    return json.dumps(value).encode()


@settings(max_examples=400, deadline=None)
@given(header=headers, content=contents, buffers=st.lists(st.binary(max_size=40), max_size=4),
       pid=st.sampled_from([p.PROTOCOL_ID, b"VOXD/9", b"x"]))
def test_decode_fuzz_only_raises_protocol_error(header, content, buffers, pid):
    frames = [pid, _dumps_raw(header), _dumps_raw(content), *buffers]
    try:
        msg = p.decode(frames)
    except p.ProtocolError as e:
        assert e.code in ERROR_CODES and e.message
        json.dumps(e.message).encode("utf-8")  # the error can always be sent back
        assert e.parent_id is None or p.is_id(e.parent_id)
    else:
        p.decode(p.encode(msg))  # whatever decodes can be encoded again (every string is valid Unicode)


ERROR_CODES = {p.BAD_FRAMES, p.BAD_VERSION, p.BAD_HEADER, p.BAD_CONTENT, p.UNKNOWN_TYPE, p.TOO_LARGE,
               p.INVALID_REQUEST}


@pytest.mark.parametrize("header, content, arrays, code", [
    ({"msg_id": "\ud800x"}, {}, [], p.BAD_HEADER),  # a lone surrogate can never be echoed as an id
    ({"type": {}}, {}, [], p.UNKNOWN_TYPE),
    ({"type": []}, {}, [], p.UNKNOWN_TYPE),
    ({"time": 10**400}, {}, [], p.BAD_HEADER),
    ({"version": ["1"]}, {}, [], p.BAD_VERSION),
    ({"parent_id": "\udfff"}, {}, [], p.BAD_HEADER),
    ({"type": "generate", "arrays": [{"name": "a", "dtype": "float16", "shape": [0, 2**31, 2**31]}]}, {}, [b""],
     p.BAD_HEADER),
    ({"type": "generate"}, {"class_label": "\ud800"}, [], p.INVALID_REQUEST),
    ({"type": "generate"}, {"class_label": "x" * 1000}, [], p.INVALID_REQUEST),
    ({"type": "generate"}, {"seed": 10**400}, [], p.INVALID_REQUEST),
    ({"type": "generate"}, {"outputs": ["voxels", "\ud800"]}, [], p.INVALID_REQUEST),
    ({"type": "cancel"}, {"job_id": "\ud800"}, [], p.INVALID_REQUEST),
    ({"type": "cancel"}, {"job_id": {}}, [], p.INVALID_REQUEST),
    ({"type": "hello"}, {"client": ["x"]}, [], p.INVALID_REQUEST),
    ({"type": "error"}, {"code": "x", "message": "\ud800"}, [], p.INVALID_REQUEST),
    ({"type": "pong"}, {"jobs": ["\ud800"]}, [], p.INVALID_REQUEST),
    ({"type": "pong"}, {"compute": 1}, [], p.INVALID_REQUEST),
])
def test_hostile_fields_are_protocol_errors_with_the_id(header, content, arrays, code):
    h = {"msg_id": "m1", "type": "ping", "parent_id": None, "version": p.PROTOCOL_VERSION, "time": 1.0,
         "arrays": []} | header
    with pytest.raises(p.ProtocolError) as e:
        p.decode([p.PROTOCOL_ID, _dumps_raw(h), _dumps_raw(content), *arrays])
    assert e.value.code == code and e.value.message
    assert e.value.parent_id == (None if header.get("msg_id") else "m1")
    assert len(e.value.message) < 1000  # long or deep values are shown shortened


def test_deep_nesting_and_oversized_json_are_protocol_errors():
    h = {"msg_id": "m1", "type": "generate", "parent_id": None, "version": p.PROTOCOL_VERSION, "time": 1.0,
         "arrays": []}
    for content in (b"[" * 100_000 + b"]" * 100_000, b'{"a": "' + b"x" * (p.MAX_CONTENT_BYTES + 1) + b'"}'):
        with pytest.raises(p.ProtocolError) as e:
            p.decode([p.PROTOCOL_ID, _dumps_raw(h), content])
        assert e.value.code == p.BAD_CONTENT and e.value.parent_id == "m1"
    with pytest.raises(p.ProtocolError) as e:  # a foreign version still names the message it refuses
        p.decode([b"VOXD/2", _dumps_raw(h), b"{}"])
    assert e.value.code == p.BAD_VERSION and e.value.parent_id == "m1"


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
