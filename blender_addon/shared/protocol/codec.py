"""The envelope: `Message` (typed body + header fields) and the frame codec `encode` / `decode`."""
from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .errors import BAD_CONTENT, BAD_FRAMES, BAD_HEADER, BAD_VERSION, TOO_LARGE, UNKNOWN_TYPE, ProtocolError
from .fields import is_id, is_text, show
from .limits import DEFAULT_MAX_MESSAGE_BYTES, DTYPES, MAX_ARRAYS, MAX_CONTENT_BYTES, MAX_HEADER_BYTES, MAX_ID_CHARS, MAX_NDIM
from .messages import BODY_TYPES, TERMINAL_TYPES, Body
from .version import PROTOCOL_ID, PROTOCOL_MAJOR, PROTOCOL_NAME, PROTOCOL_VERSION


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Message:
    """One protocol message: a typed body plus the header fields."""

    body: Body
    msg_id: str = field(default_factory=new_id)
    parent_id: str | None = None
    time: float = field(default_factory=time.time)
    version: str = PROTOCOL_VERSION

    @property
    def type(self) -> str:
        return self.body.TYPE

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_TYPES


def reply(parent_id: str | None, body: Body) -> Message:
    return Message(body=body, parent_id=parent_id)


def encode(msg: Message) -> list[bytes | memoryview]:
    """Message -> frames. Array frames are zero-copy memoryviews of C-contiguous little-endian data."""
    content, arrays = msg.body.to_wire()
    specs, buffers = [], []
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.name not in DTYPES:
            raise ProtocolError(BAD_CONTENT, f"array '{name}' has dtype {a.dtype.name}; allowed: {DTYPES}")
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        specs.append({"name": name, "dtype": a.dtype.name, "shape": list(a.shape)})
        buffers.append(memoryview(a).cast("B") if a.size else b"")  # an empty view cannot be cast
    header = {"msg_id": msg.msg_id, "type": msg.type, "parent_id": msg.parent_id, "version": msg.version,
              "time": msg.time, "arrays": specs}
    return [PROTOCOL_ID, _dumps(header), _dumps(content), *buffers]


def _dumps(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _loads(frame: memoryview, what: str, parent_id: str | None, max_bytes: int) -> dict:
    code = BAD_HEADER if what == "header" else BAD_CONTENT
    if frame.nbytes > max_bytes:
        raise ProtocolError(code, f"{what} frame is {frame.nbytes} bytes, over the {max_bytes}-byte limit", parent_id)
    try:
        obj = json.loads(bytes(frame).decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ProtocolError(code, f"{what} is not JSON: {show(str(e))}", parent_id) from None
    if not isinstance(obj, dict):
        raise ProtocolError(code, f"{what} must be a JSON object", parent_id)
    return obj


def check_protocol_id(frame: bytes | memoryview, parent_id: str | None = None) -> None:
    """Raise ProtocolError (carrying `parent_id`) unless `frame` is this protocol's id frame."""
    pid = bytes(frame[:32])
    if pid == PROTOCOL_ID:
        return
    if pid.startswith(PROTOCOL_NAME.encode() + b"/"):
        theirs = pid.decode("ascii", "replace")
        raise ProtocolError(BAD_VERSION, f"peer speaks {theirs} but this side speaks {PROTOCOL_ID.decode()}: "
                            "install matching versions of the Voxel Diffusion add-on and server", parent_id)
    raise ProtocolError(BAD_FRAMES, "not a Voxel Diffusion message: is another program using this port?", parent_id)


def decode(frames: Sequence[Any], max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Message:
    """Frames (bytes, memoryviews or zmq.Frame) -> Message. Raises only ProtocolError.

    The error's `parent_id` is the message's id whenever the header frame holds a valid one, even if
    something else is wrong (another protocol version, a bad field), so the sender can be answered.
    Arrays in the result are read-only views onto the received frames (no copy).
    """
    views = [memoryview(f).cast("B") if not isinstance(f, memoryview) else f.cast("B") for f in frames]
    if len(views) < 3:
        raise ProtocolError(BAD_FRAMES, f"expected at least 3 frames, got {len(views)}")
    try:
        header, header_error = _loads(views[1], "header", None, MAX_HEADER_BYTES), None
    except ProtocolError as e:
        header, header_error = {}, e
    msg_id = header.get("msg_id")
    msg_id = msg_id if is_id(msg_id) else None
    check_protocol_id(views[0], msg_id)
    if sum(v.nbytes for v in views) > max_bytes:
        raise ProtocolError(TOO_LARGE, f"message larger than the {max_bytes}-byte limit", msg_id)
    if header_error is not None:
        raise header_error
    if msg_id is None:
        raise ProtocolError(BAD_HEADER, f"header 'msg_id' must be a non-empty string of at most {MAX_ID_CHARS} "
                            f"characters, got {show(header.get('msg_id'))}")
    parent_id, mtype, stamp, version = (header.get(k) for k in ("parent_id", "type", "time", "version"))
    if parent_id is not None and not is_id(parent_id):
        raise ProtocolError(BAD_HEADER, f"header 'parent_id' must be null or an id, got {show(parent_id)}", msg_id)
    if not is_text(version) or version.split(".")[0] != str(PROTOCOL_MAJOR):
        raise ProtocolError(BAD_VERSION, f"message version {show(version)} does not match protocol "
                            f"{PROTOCOL_VERSION}: install matching add-on and server versions", msg_id)
    if (isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or isinstance(stamp, int) and abs(stamp) > 2**53
            or not math.isfinite(stamp)):
        raise ProtocolError(BAD_HEADER, f"header 'time' must be a number (seconds), got {show(stamp)}", msg_id)
    if not isinstance(mtype, str) or mtype not in BODY_TYPES:
        raise ProtocolError(UNKNOWN_TYPE, f"unknown message type {show(mtype)}; known: {sorted(BODY_TYPES)}", msg_id)
    arrays = _decode_arrays(header.get("arrays", []), views[3:], msg_id, max_bytes)
    content = _loads(views[2], "content", msg_id, MAX_CONTENT_BYTES)
    try:
        body = BODY_TYPES[mtype].from_wire(content, arrays)
    except ProtocolError as e:
        raise ProtocolError(e.code, f"{mtype}: {e.message}", msg_id) from None
    return Message(body=body, msg_id=msg_id, parent_id=parent_id, time=float(stamp), version=version)


def _decode_arrays(specs: Any, buffers: list[memoryview], msg_id: str, max_bytes: int) -> dict[str, np.ndarray]:
    def bad(why: str) -> ProtocolError:
        return ProtocolError(BAD_HEADER, f"header 'arrays': {why}", msg_id)

    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        raise bad(f"must be a list of at most {MAX_ARRAYS} entries")
    if len(specs) != len(buffers):
        raise bad(f"declares {len(specs)} arrays but {len(buffers)} buffer frames follow")
    arrays: dict[str, np.ndarray] = {}
    for spec, buf in zip(specs, buffers):
        if not isinstance(spec, dict):
            raise bad("each entry must be an object {name, dtype, shape}")
        name, dtype, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
        if not is_text(name, 64) or not name or name in arrays:
            raise bad(f"array names must be unique strings of 1..64 characters, got {show(name)}")
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise bad(f"array {name!r} dtype {show(dtype)} is not one of {DTYPES}")
        if (not isinstance(shape, list) or len(shape) > MAX_NDIM
                or not all(type(n) is int and 0 <= n <= 2**31 for n in shape)):
            raise bad(f"array {name!r} shape must be a list of at most {MAX_NDIM} integers in 0..2^31")
        dt = np.dtype(dtype).newbyteorder("<")
        if math.prod(max(n, 1) for n in shape) * dt.itemsize > max_bytes:  # (0, 2^31, 2^31) is empty but absurd
            raise bad(f"array {name!r} shape {show(shape)} exceeds the {max_bytes}-byte message limit")
        if math.prod(shape) * dt.itemsize != buf.nbytes:
            raise bad(f"array {name!r} declares {shape} {dtype} but its frame holds {buf.nbytes} bytes")
        arrays[name] = np.frombuffer(buf, dtype=dt).reshape(shape)
    return arrays
