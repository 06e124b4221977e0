"""The Voxel Diffusion wire protocol (stdlib + numpy only; shared by the server and the add-on).

Modules: `version` (name and version), `limits` (the protocol's hard caps), `errors` (error codes and
ProtocolError), `address` (TCP endpoints), `fields` (validating readers of received values), `messages`
(one dataclass per message type), `codec` (the envelope: encode / decode). This package re-exports their
public names, so `from blender_addon.shared import protocol as p` reaches all of them.

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

from .version import PROTOCOL_ID, PROTOCOL_MAJOR, PROTOCOL_MINOR, PROTOCOL_NAME, PROTOCOL_VERSION  # noqa: F401
from .limits import (  # noqa: F401
    DEFAULT_MAX_MESSAGE_BYTES, DTYPES, MAX_ARRAYS, MAX_CONTENT_BYTES, MAX_COUNT, MAX_HEADER_BYTES, MAX_ID_CHARS,
    MAX_LIST_ITEMS, MAX_NAME_CHARS, MAX_NDIM, MAX_TEXT_CHARS)
from .errors import (  # noqa: F401
    BAD_CONTENT, BAD_FRAMES, BAD_HEADER, BAD_VERSION, INTERNAL, INVALID_REQUEST, LIMIT_EXCEEDED, LOST, QUEUE_FULL,
    SHUTTING_DOWN, TOO_LARGE, UNKNOWN_CLASS, UNKNOWN_JOB, UNKNOWN_MODEL, UNKNOWN_TYPE, ProtocolError)
from .address import DEFAULT_PORT, is_ipv6_literal, split_tcp_address, tcp_address  # noqa: F401
from .fields import (  # noqa: F401
    invalid, is_id, is_text, read_array, read_bool, read_float, read_int, read_str, read_str_list, show)
from .messages import (  # noqa: F401
    BODY_TYPES, OUTPUTS, TERMINAL_TYPES, Accepted, Body, Cancel, Cancelled, ErrorReply, GenerateRequest,
    GenerateResult, Hello, Limits, MeshData, ModelInfo, Ping, Pong, Progress, ServerInfo)
from .codec import Message, check_protocol_id, decode, encode, new_id, reply  # noqa: F401
