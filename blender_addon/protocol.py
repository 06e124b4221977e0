"""The Voxel Diffusion wire protocol (stdlib + numpy only; shared by the server and the add-on).

A message is a list of ZeroMQ frames:

    [b"VOXD/1", header JSON, content JSON, *array frames]

- frame 0 names the protocol and its major version; another major version is refused explicitly.
- header: {"msg_id", "type", "parent_id", "version", "time", "arrays": [{"name", "dtype", "shape"}]}.
  `parent_id` links a reply to the request it answers (Jupyter style). `arrays` lists the raw
  little-endian buffers that follow, in frame order; dtypes come from an allow-list and every
  buffer's size is checked against its declared shape.
- content: a JSON object whose fields depend on `type`; unknown fields are ignored.

Every type has a typed body dataclass (`Hello`, `GenerateRequest`, ...). `encode(Message)` turns one
into frames; `decode(frames)` validates everything and raises only `ProtocolError`: every field is
type-checked (a JSON object, list, bool or number where another type is due is refused), every string
is bounded and must be valid Unicode (no lone surrogates: they cannot be encoded back), array headers
must fit the frames that follow. A ProtocolError carries the message's id (`parent_id`) whenever the
header was readable, so the peer can be answered.

A `generate` request gets one `accepted`, zero or more `progress`, then exactly one terminal reply:
`result`, `error` or `cancelled`.
"""
from __future__ import annotations

import ipaddress
import json
import math
import reprlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

PROTOCOL_NAME = "VOXD"
PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 2  # 1.1: pong lists the client's live jobs; 1.2: pong says whether the compute thread runs
PROTOCOL_ID = f"{PROTOCOL_NAME}/{PROTOCOL_MAJOR}".encode()
PROTOCOL_VERSION = f"{PROTOCOL_MAJOR}.{PROTOCOL_MINOR}"

DEFAULT_PORT = 5557
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_ALPHA_THRESHOLD = 0.9
DEFAULT_STEPS = 25
DEFAULT_SAMPLER = "ddpm"
DEFAULT_GUIDANCE = 1.5
"""The default sampling settings of every entry point: the panel's Normal quality, the scripting API, the
server's and `eval`'s flags, and a generate request that leaves them out. Measured on the bundled model (README
"Evaluation"): stochastic (ancestral) steps at moderate guidance keep thin parts such as legs and poles connected
far more often than deterministic DDIM at guidance 3, at the same class accuracy."""
MAX_SEED = 2**32 - 1
# Hard caps of the protocol itself; a server announces its own (usually lower) limits in `info`.
MAX_COUNT = 256
MAX_STEPS = 4000
MAX_GUIDANCE = 20.0
MAX_ARRAYS = 1024
MAX_NDIM = 6
MAX_ID_CHARS = 128  # msg_id, parent_id, job ids
MAX_NAME_CHARS = 256  # names and short strings (class names, samplers, versions, ...)
MAX_TEXT_CHARS = 8192  # error messages
MAX_LIST_ITEMS = 4096  # class names, job ids in a pong, ...
MAX_HEADER_BYTES = 256 * 1024  # the header frame (JSON)
MAX_CONTENT_BYTES = 4 * 1024 * 1024  # the content frame (JSON); bulk data travels as array frames
SAMPLERS = ("ddpm", "ddim", "dpmpp_2m", "dpmpp_2m_sde")  # DPM-Solver++(2M): deterministic, and stochastic (SDE)
OUTPUTS = ("voxels", "mesh")
MESH_STYLES = ("smooth", "cubes")
DTYPES = ("uint8", "int32", "int64", "float16", "float32")
TERMINAL_TYPES = ("result", "error", "cancelled")

# Error codes carried by `error` replies and `ProtocolError`.
BAD_FRAMES = "bad_frames"
BAD_VERSION = "bad_version"
BAD_HEADER = "bad_header"
BAD_CONTENT = "bad_content"
UNKNOWN_TYPE = "unknown_type"
TOO_LARGE = "too_large"
INVALID_REQUEST = "invalid_request"
LIMIT_EXCEEDED = "limit_exceeded"
UNKNOWN_CLASS = "unknown_class"
UNKNOWN_JOB = "unknown_job"
QUEUE_FULL = "queue_full"
SHUTTING_DOWN = "shutting_down"
INTERNAL = "internal"
LOST = "lost"  # the server no longer has the job (connection dropped, reply undeliverable)


class ProtocolError(Exception):
    """A message that cannot be accepted. `code` is one of the error codes above; `message` says
    what to do about it; `parent_id` is the offending message's id when it could be read."""

    def __init__(self, code: str, message: str, parent_id: str | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.parent_id = parent_id


def is_ipv6_literal(host: str) -> bool:
    """True for an IPv6 address such as "::1" or "[::1]" (such sockets need zmq.IPV6 set)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 6
    except ValueError:
        return False


def tcp_address(host: str, port: int | str) -> str:
    """ZeroMQ TCP endpoint; IPv6 literals are bracketed: tcp_address("::1", 5557) == "tcp://[::1]:5557"."""
    host = host.strip("[]")
    return f"tcp://[{host}]:{port}" if is_ipv6_literal(host) else f"tcp://{host}:{port}"


def split_tcp_address(address: str) -> tuple[str, int]:
    """Inverse of tcp_address: "tcp://[::1]:5557" -> ("::1", 5557). Raises ValueError if malformed."""
    host, sep, port = address.removeprefix("tcp://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected a server address like tcp://HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def new_id() -> str:
    return uuid.uuid4().hex


# ----------------------------------------------------------------------------- field readers
_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = _SHOW.maxlong = 48
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxdict = 2, 4, 4


def show(value: Any) -> str:
    """A short, printable rendering of a received value for error messages (bounded length and depth;
    lone surrogates and control characters escaped), so echoing it back can never fail."""
    return _SHOW.repr(value)


def _invalid(msg: str) -> ProtocolError:
    return ProtocolError(INVALID_REQUEST, msg)


def is_text(value: Any, max_chars: int = MAX_NAME_CHARS) -> bool:
    """A str of at most max_chars characters that is valid Unicode (encodes to UTF-8: no lone surrogates)."""
    if not isinstance(value, str) or len(value) > max_chars:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_id(value: Any) -> bool:
    """A usable message or job id: a non-empty text of at most MAX_ID_CHARS characters."""
    return is_text(value, MAX_ID_CHARS) and value != ""


def _int(c: dict, key: str, lo: int, hi: int, default: int | None = None) -> int:
    v = c.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _invalid(f"'{key}' must be an integer in {lo}..{hi}, got {show(v)}")
    return v


def _float(c: dict, key: str, lo: float, hi: float, default: float | None = None) -> float:
    v = c.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise _invalid(f"'{key}' must be a number in {lo}..{hi}, got {show(v)}")
    return float(v)


def _str(c: dict, key: str, default: str | None = None, choices: Sequence[str] | None = None,
         max_chars: int = MAX_NAME_CHARS) -> str:
    v = c.get(key, default)
    if not is_text(v, max_chars) or (choices is not None and v not in choices):
        wanted = f"one of {', '.join(choices)}" if choices else f"a string of at most {max_chars} characters"
        raise _invalid(f"'{key}' must be {wanted}, got {show(v)}")
    return v


def _bool(c: dict, key: str, default: bool | None) -> bool:
    v = c.get(key, default)
    if not isinstance(v, bool):
        raise _invalid(f"'{key}' must be true or false, got {show(v)}")
    return v


def _str_list(c: dict, key: str, default: Sequence[str] = (), max_chars: int = MAX_NAME_CHARS) -> tuple[str, ...]:
    v = c.get(key, list(default))
    if not isinstance(v, list) or len(v) > MAX_LIST_ITEMS or not all(is_text(s, max_chars) for s in v):
        raise _invalid(f"'{key}' must be a list of at most {MAX_LIST_ITEMS} strings, got {show(v)}")
    return tuple(v)


def _array(arrays: dict[str, np.ndarray], name: str, dtypes: Sequence[str], ndim: int) -> np.ndarray:
    a = arrays.get(name)
    if a is None or a.dtype.name not in dtypes or a.ndim != ndim:
        raise _invalid(f"array '{name}' must be present with dtype in {dtypes} and {ndim} dimensions")
    return a


# ----------------------------------------------------------------------------- message bodies
@dataclass(frozen=True)
class Body:
    """Base of all message bodies: `TYPE` names the message; to/from_wire map to content + arrays."""

    TYPE: ClassVar[str] = ""

    def to_wire(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    @classmethod
    def from_wire(cls, content: dict[str, Any], arrays: dict[str, np.ndarray]) -> Body:
        return cls()


@dataclass(frozen=True)
class Hello(Body):
    """Client -> server at connect; answered by `info`."""

    TYPE: ClassVar[str] = "hello"
    client: str = "voxel-client"

    def to_wire(self):
        return {"client": self.client}, {}

    @classmethod
    def from_wire(cls, content, arrays):
        return cls(client=_str(content, "client", "voxel-client"))


@dataclass(frozen=True)
class Limits:
    """Server-side limits announced in `info`; requests beyond them get `limit_exceeded`."""

    max_count: int = 16
    max_steps: int = 1000
    max_resolution: int = 64
    max_queue: int = 64
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class ServerInfo(Body):
    """Server -> client reply to `hello`: what the server runs and accepts."""

    TYPE: ClassVar[str] = "info"
    server_version: str = ""
    model_name: str = ""
    class_names: tuple[str, ...] = ()
    resolution: int = 0
    channels: int = 4
    limits: Limits = field(default_factory=Limits)
    samplers: tuple[str, ...] = SAMPLERS
    mesh_styles: tuple[str, ...] = MESH_STYLES
    instance_id: str = ""
    protocol_version: str = PROTOCOL_VERSION

    def to_wire(self):
        return {
            "protocol_version": self.protocol_version,
            "server_version": self.server_version,
            "model_name": self.model_name,
            "class_names": list(self.class_names),
            "resolution": self.resolution,
            "channels": self.channels,
            "limits": vars(self.limits),
            "samplers": list(self.samplers),
            "mesh_styles": list(self.mesh_styles),
            "instance_id": self.instance_id,
        }, {}

    @classmethod
    def from_wire(cls, content, arrays):
        lim = content.get("limits")
        if not isinstance(lim, dict):
            raise _invalid("'limits' must be an object")
        limits = Limits(**{k: _int(lim, k, 0, 2**62, getattr(Limits, k)) for k in vars(Limits())})
        return cls(
            protocol_version=_str(content, "protocol_version"),
            server_version=_str(content, "server_version"),
            model_name=_str(content, "model_name"),
            class_names=_str_list(content, "class_names"),
            resolution=_int(content, "resolution", 0, 4096),
            channels=_int(content, "channels", 1, 64),
            limits=limits,
            samplers=_str_list(content, "samplers"),
            mesh_styles=_str_list(content, "mesh_styles"),
            instance_id=_str(content, "instance_id", ""),
        )


@dataclass(frozen=True)
class GenerateRequest(Body):
    """Client -> server: generate `count` objects of one class.

    class_label: a class name or an index into the server's `class_names`.
    seed: object i uses seed (seed + i) mod 2^32, so results do not depend on batching.
    outputs: a non-empty subset of ("voxels", "mesh"). mesh_size: edge length of the whole grid in
    the mesh's units. preview: stream a low-resolution pred_x0 grid with each progress message.
    """

    TYPE: ClassVar[str] = "generate"
    class_label: str | int = 0
    seed: int = 0
    count: int = 1
    steps: int = DEFAULT_STEPS
    sampler: str = DEFAULT_SAMPLER
    eta: float = 0.0
    guidance: float = DEFAULT_GUIDANCE
    outputs: tuple[str, ...] = ("voxels",)
    mesh_style: str = "smooth"
    alpha_threshold: float = DEFAULT_ALPHA_THRESHOLD
    mesh_size: float = 1.0
    preview: bool = False

    def __post_init__(self):
        object.__setattr__(self, "outputs", tuple(self.outputs))
        _generate_fields({k: getattr(self, k) for k in self.__dataclass_fields__} | {"outputs": list(self.outputs)})

    @property
    def seeds(self) -> list[int]:
        return [(self.seed + i) % (MAX_SEED + 1) for i in range(self.count)]

    @property
    def batch_key(self) -> tuple:
        """Requests with equal keys can share one denoising batch."""
        return (self.steps, self.sampler, self.eta, self.guidance)

    def to_wire(self):
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"outputs": list(self.outputs)}, {}

    @classmethod
    def from_wire(cls, content, arrays):
        return cls(**_generate_fields(content))


def _generate_fields(c: dict[str, Any]) -> dict[str, Any]:
    """Validate a generate request's content; returns the GenerateRequest fields (defaults filled)."""
    label = c.get("class_label", 0)
    if isinstance(label, bool) or not (is_text(label) or (isinstance(label, int) and 0 <= label < 2**31)):
        raise _invalid(f"'class_label' must be a class name or a non-negative index, got {show(label)}")
    outputs = _str_list(c, "outputs", ("voxels",))
    if not outputs or not set(outputs) <= set(OUTPUTS) or len(set(outputs)) != len(outputs):
        raise _invalid(f"'outputs' must be a non-empty subset of {list(OUTPUTS)}, got {list(outputs)}")
    return dict(
        class_label=label,
        seed=_int(c, "seed", 0, MAX_SEED, 0),
        count=_int(c, "count", 1, MAX_COUNT, 1),
        steps=_int(c, "steps", 1, MAX_STEPS, DEFAULT_STEPS),
        sampler=_str(c, "sampler", DEFAULT_SAMPLER, SAMPLERS),
        eta=_float(c, "eta", 0.0, 1.0, 0.0),
        guidance=_float(c, "guidance", 0.0, MAX_GUIDANCE, DEFAULT_GUIDANCE),
        outputs=outputs,
        mesh_style=_str(c, "mesh_style", "smooth", MESH_STYLES),
        alpha_threshold=_float(c, "alpha_threshold", 0.0, 1.0, DEFAULT_ALPHA_THRESHOLD),
        mesh_size=_float(c, "mesh_size", 1e-6, 1e6, 1.0),
        preview=_bool(c, "preview", False),
    )


@dataclass(frozen=True)
class Accepted(Body):
    """Server -> client: the request is queued; `queue_position` jobs are ahead of it."""

    TYPE: ClassVar[str] = "accepted"
    queue_position: int = 0

    def to_wire(self):
        return {"queue_position": self.queue_position}, {}

    @classmethod
    def from_wire(cls, content, arrays):
        return cls(queue_position=_int(content, "queue_position", 0, 2**31))


@dataclass(frozen=True)
class Progress(Body):
    """Server -> client: denoising step `step` of `total` (1-based) finished.

    preview: optional float16 [N, C, r, r, r] low-resolution pred_x0 in [0, 1] (if requested).
    """

    TYPE: ClassVar[str] = "progress"
    step: int = 0
    total: int = 0
    preview: np.ndarray | None = None

    def to_wire(self):
        arrays = {} if self.preview is None else {"preview": self.preview}
        return {"step": self.step, "total": self.total}, arrays

    @classmethod
    def from_wire(cls, content, arrays):
        total = _int(content, "total", 1, MAX_STEPS)
        preview = _array(arrays, "preview", ("float16", "float32"), 5) if "preview" in arrays else None
        return cls(step=_int(content, "step", 0, total), total=total, preview=preview)


@dataclass(frozen=True)
class MeshData:
    """One mesh on the wire. vertices float32 [V, 3]; faces int32 [F, 3] or [F, 4];
    colors float32 RGBA [V, 4] (color_domain "vertex") or [F, 4] (color_domain "face")."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    color_domain: str


@dataclass(frozen=True)
class GenerateResult(Body):
    """Server -> client terminal reply: voxels float32 [N, C, R, R, R] in [0, 1] (if asked) and
    one mesh per object (if asked); seeds[i] produced object i."""

    TYPE: ClassVar[str] = "result"
    class_name: str = ""
    seeds: tuple[int, ...] = ()
    voxels: np.ndarray | None = None
    meshes: tuple[MeshData, ...] = ()

    def to_wire(self):
        arrays = {} if self.voxels is None else {"voxels": self.voxels}
        domains = []
        for i, m in enumerate(self.meshes):
            arrays.update({f"mesh{i}.vertices": m.vertices, f"mesh{i}.faces": m.faces, f"mesh{i}.colors": m.colors})
            domains.append(m.color_domain)
        return {"class_name": self.class_name, "seeds": list(self.seeds), "mesh_color_domains": domains}, arrays

    @classmethod
    def from_wire(cls, content, arrays):
        seeds = content.get("seeds")
        if not isinstance(seeds, list) or not all(type(s) is int and 0 <= s <= MAX_SEED for s in seeds):
            raise _invalid("'seeds' must be a list of seeds")
        meshes = []
        for i, domain in enumerate(_str_list(content, "mesh_color_domains")):
            v = _array(arrays, f"mesh{i}.vertices", ("float32",), 2)
            f = _array(arrays, f"mesh{i}.faces", ("int32",), 2)
            c = _array(arrays, f"mesh{i}.colors", ("float32",), 2)
            owners = {"vertex": len(v), "face": len(f)}
            if v.shape[1] != 3 or f.shape[1] not in (3, 4) or domain not in owners or c.shape != (owners[domain], 4):
                raise _invalid(f"mesh {i} has inconsistent array shapes")
            if f.size and (f.min() < 0 or f.max() >= len(v)):
                raise _invalid(f"mesh {i} has face indices outside its vertices")
            meshes.append(MeshData(v, f, c, domain))
        voxels = _array(arrays, "voxels", ("float32",), 5) if "voxels" in arrays else None
        return cls(class_name=_str(content, "class_name"), seeds=tuple(seeds), voxels=voxels, meshes=tuple(meshes))


@dataclass(frozen=True)
class ErrorReply(Body):
    """Server -> client terminal reply (or answer to a bad message): `message` says what to do."""

    TYPE: ClassVar[str] = "error"
    code: str = INTERNAL
    message: str = ""

    def to_wire(self):
        return {"code": self.code, "message": self.message}, {}

    @classmethod
    def from_wire(cls, content, arrays):
        return cls(code=_str(content, "code"), message=_str(content, "message", max_chars=MAX_TEXT_CHARS))


@dataclass(frozen=True)
class Cancel(Body):
    """Client -> server: cancel the job started by the generate message `job_id`."""

    TYPE: ClassVar[str] = "cancel"
    job_id: str = ""

    def to_wire(self):
        return {"job_id": self.job_id}, {}

    @classmethod
    def from_wire(cls, content, arrays):
        job_id = content.get("job_id")
        if not is_id(job_id):
            raise _invalid(f"'job_id' must be the id of a generate message, got {show(job_id)}")
        return cls(job_id=job_id)


@dataclass(frozen=True)
class Cancelled(Body):
    """Server -> client terminal reply: the job was cancelled (or dropped from the queue)."""

    TYPE: ClassVar[str] = "cancelled"


@dataclass(frozen=True)
class Ping(Body):
    TYPE: ClassVar[str] = "ping"


@dataclass(frozen=True)
class Pong(Body):
    """Server -> client: alive. instance_id changes when the server restarts (jobs are then lost).

    jobs: ids of the pinging client's jobs the server still owes a terminal reply (queued, running,
    or reply not yet delivered); None from a 1.0 server, which does not report them. Every terminal
    reply the server sent before this pong precedes it on the wire, so a job of the client that is
    neither finished nor listed here has been lost.
    compute: whether the server's compute thread is running (1.2); None from older servers. A server
    whose compute thread is down cannot run jobs: clients treat it as a dead server.
    """

    TYPE: ClassVar[str] = "pong"
    instance_id: str = ""
    queued: int = 0
    jobs: tuple[str, ...] | None = None
    compute: bool | None = None

    def to_wire(self):
        content = {"instance_id": self.instance_id, "queued": self.queued}
        if self.jobs is not None:
            content["jobs"] = list(self.jobs)
        if self.compute is not None:
            content["compute"] = self.compute
        return content, {}

    @classmethod
    def from_wire(cls, content, arrays):
        return cls(instance_id=_str(content, "instance_id", ""), queued=_int(content, "queued", 0, 2**31, 0),
                   jobs=_str_list(content, "jobs", max_chars=MAX_ID_CHARS) if "jobs" in content else None,
                   compute=_bool(content, "compute", None) if "compute" in content else None)


BODY_TYPES: dict[str, type[Body]] = {
    b.TYPE: b
    for b in (Hello, ServerInfo, GenerateRequest, Accepted, Progress, GenerateResult, ErrorReply, Cancel,
              Cancelled, Ping, Pong)
}


# ----------------------------------------------------------------------------- envelope
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
