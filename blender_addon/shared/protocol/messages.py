"""One frozen dataclass per message type; `to_wire` / `from_wire` map it to content + arrays."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..edits import Edit
from ..settings import (DEFAULT_ALPHA_THRESHOLD, DEFAULT_ETA, DEFAULT_JOIN_PARTS, DEFAULT_GUIDANCE, DEFAULT_MAX_STEPS, DEFAULT_MESH_SIZE,
                        DEFAULT_MESH_STYLE, DEFAULT_SAMPLER, DEFAULT_STEPS, MAX_GUIDANCE, MAX_SEED, MAX_STEPS, MESH_STYLES,
                        SAMPLERS)
from .errors import INTERNAL
from .fields import (invalid, is_id, is_text, read_array, read_bool, read_float, read_int, read_str, read_str_list,
                     show)
from .limits import DEFAULT_MAX_MESSAGE_BYTES, MAX_COUNT, MAX_ID_CHARS, MAX_LIST_ITEMS, MAX_TEXT_CHARS
from .version import PROTOCOL_VERSION

OUTPUTS = ("voxels", "mesh")
TERMINAL_TYPES = ("result", "error", "cancelled")

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
        return cls(client=read_str(content, "client", "voxel-client"))


@dataclass(frozen=True)
class Limits:
    """Server-side limits announced in `info`; requests beyond them get `limit_exceeded`."""

    max_count: int = 16
    max_steps: int = DEFAULT_MAX_STEPS
    max_resolution: int = 64
    max_queue: int = 64
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class ModelInfo:
    """One model a server serves: its name (what a generate request's `model` names), class names, grid
    (resolution R, channels C: objects are [C, R, R, R]), the most steps it takes, and (1.6) whether it takes a
    colour (a generate request's `hue`; false from older servers)."""

    name: str
    class_names: tuple[str, ...]
    resolution: int
    channels: int
    max_steps: int
    hue_conditional: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "class_names": list(self.class_names), "resolution": self.resolution,
                "channels": self.channels, "max_steps": self.max_steps, "hue_conditional": self.hue_conditional}

    @classmethod
    def from_wire(cls, c: Any) -> ModelInfo:
        if not isinstance(c, dict):
            raise invalid("each of 'models' must be an object")
        return cls(name=read_str(c, "name"), class_names=read_str_list(c, "class_names"),
                   resolution=read_int(c, "resolution", 0, 4096), channels=read_int(c, "channels", 1, 64),
                   max_steps=read_int(c, "max_steps", 1, MAX_STEPS),
                   hue_conditional=read_bool(c, "hue_conditional", False))


@dataclass(frozen=True)
class ServerInfo(Body):
    """Server -> client reply to `hello`: what the server runs and accepts.

    models (1.3): every model it serves, the default first; the top-level model_name, class_names,
    resolution and channels describe that default (what a 1.2 client reads). From a 1.2 server, `models`
    holds just its one model, built from those fields.
    """

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
    models: tuple[ModelInfo, ...] = ()

    def __post_init__(self):
        if not self.models:
            object.__setattr__(self, "models", (ModelInfo(self.model_name, tuple(self.class_names), self.resolution,
                                                          self.channels, self.limits.max_steps),))

    def model(self, name: str = "") -> ModelInfo | None:
        """The model a request naming `name` gets ("" : the default), or None if there is none by that name."""
        return self.models[0] if not name else next((m for m in self.models if m.name == name), None)

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
            "models": [m.to_wire() for m in self.models],
        }, {}

    @classmethod
    def from_wire(cls, content, arrays):
        lim = content.get("limits")
        if not isinstance(lim, dict):
            raise invalid("'limits' must be an object")
        limits = Limits(**{k: read_int(lim, k, 0, 2**62, getattr(Limits, k)) for k in vars(Limits())})
        return cls(
            protocol_version=read_str(content, "protocol_version"),
            server_version=read_str(content, "server_version"),
            model_name=read_str(content, "model_name"),
            class_names=read_str_list(content, "class_names"),
            resolution=read_int(content, "resolution", 0, 4096),
            channels=read_int(content, "channels", 1, 64),
            limits=limits,
            samplers=read_str_list(content, "samplers"),
            mesh_styles=read_str_list(content, "mesh_styles"),
            instance_id=read_str(content, "instance_id", ""),
            models=tuple(ModelInfo.from_wire(m) for m in _models(content)),
        )


def _models(content: dict[str, Any]) -> list[Any]:
    models = content.get("models", [])
    if not isinstance(models, list) or len(models) > MAX_LIST_ITEMS:
        raise invalid(f"'models' must be a list of at most {MAX_LIST_ITEMS} objects")
    return models


@dataclass(frozen=True)
class GenerateRequest(Body):
    """Client -> server: generate `count` objects of one class.

    class_label: a class name or an index into the server's `class_names`.
    seed: object i uses seed (seed + i) mod 2^32, so results do not depend on batching.
    model (1.3): which of the server's models ("": its default; a 1.2 server ignores the field).
    outputs: a non-empty subset of ("voxels", "mesh"). mesh_size: edge length of the whole grid in
    the mesh's units. preview: stream a low-resolution pred_x0 grid with each progress message.
    join_parts (1.5; default true): join an object's pieces where it breaks at `alpha_threshold`, along the
    decoder's most confident voxels (their alpha is raised to the threshold), and remove floating specks no such
    path reaches (a 1.4 server ignores it).
    Artist control (1.4; older servers ignore these fields and arrays, so check `protocol_version`):
    init: float32 [C, R, R, R] in [0, 1], the grid every object starts from (array "init": float32,
    float16, or uint8 read as /255), at `strength` in [0, 1] (1: plain generation, 0: init itself).
    region: bool [R, R, R] (array "region", uint8 0/1): regenerate only there; the rest keeps init exactly.
    blend_seed: object i of `count` mixes the noise of `seed` and blend_seed at weight i / (count - 1)
    (0.5 for a single object): a row of in-betweens from seed's object to blend_seed's.
    hue (1.6): the objects' main colour as a hue in [0, 1] (turns of the colour wheel from red), for a model that
    takes one (`ModelInfo.hue_conditional`; others answer invalid_request); None: each object's own, drawn from
    its seed. A 1.5 server ignores it.
    """

    TYPE: ClassVar[str] = "generate"
    class_label: str | int = 0
    model: str = ""
    seed: int = 0
    count: int = 1
    steps: int = DEFAULT_STEPS
    sampler: str = DEFAULT_SAMPLER
    eta: float = DEFAULT_ETA
    guidance: float = DEFAULT_GUIDANCE
    outputs: tuple[str, ...] = ("voxels",)
    mesh_style: str = DEFAULT_MESH_STYLE
    alpha_threshold: float = DEFAULT_ALPHA_THRESHOLD
    mesh_size: float = DEFAULT_MESH_SIZE
    preview: bool = False
    join_parts: bool = DEFAULT_JOIN_PARTS
    strength: float = 1.0
    blend_seed: int | None = None
    hue: float | None = None
    init: np.ndarray | None = field(default=None, compare=False)
    region: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "outputs", tuple(self.outputs))
        _generate_fields(self._content())
        _check_grids(self.init, self.region, self.strength)

    def _content(self) -> dict[str, Any]:
        content = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in _ARRAY_FIELDS}
        return content | {"outputs": list(self.outputs)}

    @property
    def edited(self) -> bool:
        """Whether the request departs from plain generation (init, region or a blend)."""
        return self.init is not None or self.blend_seed is not None

    def edit(self) -> Edit | None:
        """The request's edit for its `count` objects (None for plain generation)."""
        if not self.edited:
            return None
        n = self.count
        init = None if self.init is None else np.repeat(self.init[None], n, axis=0)
        region = None if self.region is None else np.repeat(self.region[None], n, axis=0)
        blend = None if self.blend_seed is None else ([self.blend_seed] * n, [i / (n - 1) if n > 1 else 0.5
                                                                             for i in range(n)])
        return Edit(init=init, strength=self.strength, region=region, blend_seeds=blend and blend[0],
                    blend_weights=blend and blend[1])

    @property
    def seeds(self) -> list[int]:
        """Each object's seed: seed + i (mod 2^32); for a blend, `seed` for all (they differ by weight)."""
        if self.blend_seed is not None:
            return [self.seed] * self.count
        return [(self.seed + i) % (MAX_SEED + 1) for i in range(self.count)]

    @property
    def batch_key(self) -> tuple:
        """Requests with equal keys can share one denoising batch."""
        return (self.model, self.steps, self.sampler, self.eta, self.guidance) + ((id(self),) if self.edited else ())

    def to_wire(self):
        arrays = {} if self.init is None else {"init": np.asarray(self.init, np.float32)}
        if self.region is not None:
            arrays["region"] = self.region.astype(np.uint8)
        return self._content(), arrays

    @classmethod
    def from_wire(cls, content, arrays):
        init = region = None
        if "init" in arrays:
            init = read_array(arrays, "init", ("float32", "float16", "uint8"), 4)
            init = init.astype(np.float32) / 255 if init.dtype == np.uint8 else init.astype(np.float32)
        if "region" in arrays:
            region = read_array(arrays, "region", ("uint8",), 3)
            if region.size and region.max() > 1:
                raise invalid("array 'region' must hold 0 (keep) or 1 (regenerate)")
            region = region.astype(bool)
        return cls(**_generate_fields(content), init=init, region=region)


_ARRAY_FIELDS = ("init", "region")


def _check_grids(init: np.ndarray | None, region: np.ndarray | None, strength: float) -> None:
    """The arrays of a generate request: init a finite [C, R, R, R] grid in [0, 1]; region [R, R, R] like it."""
    if init is None:
        if strength < 1.0 or region is not None:
            raise invalid("'strength' below 1 and 'region' need an 'init' grid to start from")
        return
    if init.ndim != 4 or len(set(init.shape[1:])) != 1 or not np.isfinite(init).all() or init.min() < 0 or init.max() > 1:
        raise invalid(f"array 'init' must be a finite [C, R, R, R] grid in [0, 1], got shape {list(init.shape)}")
    if region is not None and (region.dtype != np.bool_ or region.shape != init.shape[1:]):
        raise invalid(f"array 'region' must be [R, R, R] matching init {list(init.shape[1:])}, got {list(region.shape)}")


def _generate_fields(c: dict[str, Any]) -> dict[str, Any]:
    """Validate a generate request's content; returns the GenerateRequest fields (defaults filled)."""
    label = c.get("class_label", 0)
    if isinstance(label, bool) or not (is_text(label) or (isinstance(label, int) and 0 <= label < 2**31)):
        raise invalid(f"'class_label' must be a class name or a non-negative index, got {show(label)}")
    outputs = read_str_list(c, "outputs", ("voxels",))
    if not outputs or not set(outputs) <= set(OUTPUTS) or len(set(outputs)) != len(outputs):
        raise invalid(f"'outputs' must be a non-empty subset of {list(OUTPUTS)}, got {list(outputs)}")
    return dict(
        class_label=label,
        model=read_str(c, "model", ""),
        seed=read_int(c, "seed", 0, MAX_SEED, 0),
        count=read_int(c, "count", 1, MAX_COUNT, 1),
        steps=read_int(c, "steps", 1, MAX_STEPS, DEFAULT_STEPS),
        sampler=read_str(c, "sampler", DEFAULT_SAMPLER, SAMPLERS),
        eta=read_float(c, "eta", 0.0, 1.0, DEFAULT_ETA),
        guidance=read_float(c, "guidance", 0.0, MAX_GUIDANCE, DEFAULT_GUIDANCE),
        outputs=outputs,
        mesh_style=read_str(c, "mesh_style", DEFAULT_MESH_STYLE, MESH_STYLES),
        alpha_threshold=read_float(c, "alpha_threshold", 0.0, 1.0, DEFAULT_ALPHA_THRESHOLD),
        mesh_size=read_float(c, "mesh_size", 1e-6, 1e6, DEFAULT_MESH_SIZE),
        preview=read_bool(c, "preview", False),
        join_parts=read_bool(c, "join_parts", DEFAULT_JOIN_PARTS),
        strength=read_float(c, "strength", 0.0, 1.0, 1.0),
        blend_seed=None if c.get("blend_seed") is None else read_int(c, "blend_seed", 0, MAX_SEED),
        hue=None if c.get("hue") is None else read_float(c, "hue", 0.0, 1.0),
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
        return cls(queue_position=read_int(content, "queue_position", 0, 2**31))


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
        total = read_int(content, "total", 1, MAX_STEPS)
        preview = read_array(arrays, "preview", ("float16", "float32"), 5) if "preview" in arrays else None
        return cls(step=read_int(content, "step", 0, total), total=total, preview=preview)


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
            raise invalid("'seeds' must be a list of seeds")
        meshes = []
        for i, domain in enumerate(read_str_list(content, "mesh_color_domains")):
            v = read_array(arrays, f"mesh{i}.vertices", ("float32",), 2)
            f = read_array(arrays, f"mesh{i}.faces", ("int32",), 2)
            c = read_array(arrays, f"mesh{i}.colors", ("float32",), 2)
            owners = {"vertex": len(v), "face": len(f)}
            if v.shape[1] != 3 or f.shape[1] not in (3, 4) or domain not in owners or c.shape != (owners[domain], 4):
                raise invalid(f"mesh {i} has inconsistent array shapes")
            if f.size and (f.min() < 0 or f.max() >= len(v)):
                raise invalid(f"mesh {i} has face indices outside its vertices")
            meshes.append(MeshData(v, f, c, domain))
        voxels = read_array(arrays, "voxels", ("float32",), 5) if "voxels" in arrays else None
        return cls(class_name=read_str(content, "class_name"), seeds=tuple(seeds), voxels=voxels, meshes=tuple(meshes))


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
        return cls(code=read_str(content, "code"), message=read_str(content, "message", max_chars=MAX_TEXT_CHARS))


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
            raise invalid(f"'job_id' must be the id of a generate message, got {show(job_id)}")
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
        return cls(instance_id=read_str(content, "instance_id", ""), queued=read_int(content, "queued", 0, 2**31, 0),
                   jobs=read_str_list(content, "jobs", max_chars=MAX_ID_CHARS) if "jobs" in content else None,
                   compute=read_bool(content, "compute", None) if "compute" in content else None)


BODY_TYPES: dict[str, type[Body]] = {
    b.TYPE: b
    for b in (Hello, ServerInfo, GenerateRequest, Accepted, Progress, GenerateResult, ErrorReply, Cancel,
              Cancelled, Ping, Pong)
}
