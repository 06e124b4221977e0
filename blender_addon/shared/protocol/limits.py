"""Hard caps of the protocol itself; a server announces its own (usually lower) limits in `info`."""

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_COUNT = 256
MAX_ARRAYS = 1024
MAX_NDIM = 6
MAX_ID_CHARS = 128  # msg_id, parent_id, job ids
MAX_NAME_CHARS = 256  # names and short strings (class names, samplers, versions, ...)
MAX_TEXT_CHARS = 8192  # error messages
MAX_LIST_ITEMS = 4096  # class names, job ids in a pong, ...
MAX_HEADER_BYTES = 256 * 1024  # the header frame (JSON)
MAX_CONTENT_BYTES = 4 * 1024 * 1024  # the content frame (JSON); bulk data travels as array frames
DTYPES = ("uint8", "int32", "int64", "float16", "float32")
