"""Error codes carried by `error` replies and `ProtocolError`."""
from __future__ import annotations

BAD_FRAMES = "bad_frames"
BAD_VERSION = "bad_version"
BAD_HEADER = "bad_header"
BAD_CONTENT = "bad_content"
UNKNOWN_TYPE = "unknown_type"
TOO_LARGE = "too_large"
INVALID_REQUEST = "invalid_request"
LIMIT_EXCEEDED = "limit_exceeded"
UNKNOWN_CLASS = "unknown_class"
UNKNOWN_MODEL = "unknown_model"
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

