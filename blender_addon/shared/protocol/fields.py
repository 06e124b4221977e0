"""Validating readers of received values: each raises ProtocolError(INVALID_REQUEST) naming the field."""
from __future__ import annotations

import reprlib
from typing import Any, Sequence

import numpy as np

from .errors import INVALID_REQUEST, ProtocolError
from .limits import MAX_ID_CHARS, MAX_LIST_ITEMS, MAX_NAME_CHARS

_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = _SHOW.maxlong = 48
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxdict = 2, 4, 4


def show(value: Any) -> str:
    """A short, printable rendering of a received value for error messages (bounded length and depth;
    lone surrogates and control characters escaped), so echoing it back can never fail."""
    return _SHOW.repr(value)


def invalid(msg: str) -> ProtocolError:
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


def read_int(c: dict, key: str, lo: int, hi: int, default: int | None = None) -> int:
    v = c.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise invalid(f"'{key}' must be an integer in {lo}..{hi}, got {show(v)}")
    return v


def read_float(c: dict, key: str, lo: float, hi: float, default: float | None = None) -> float:
    v = c.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise invalid(f"'{key}' must be a number in {lo}..{hi}, got {show(v)}")
    return float(v)


def read_str(c: dict, key: str, default: str | None = None, choices: Sequence[str] | None = None,
         max_chars: int = MAX_NAME_CHARS) -> str:
    v = c.get(key, default)
    if not is_text(v, max_chars) or (choices is not None and v not in choices):
        wanted = f"one of {', '.join(choices)}" if choices else f"a string of at most {max_chars} characters"
        raise invalid(f"'{key}' must be {wanted}, got {show(v)}")
    return v


def read_bool(c: dict, key: str, default: bool | None) -> bool:
    v = c.get(key, default)
    if not isinstance(v, bool):
        raise invalid(f"'{key}' must be true or false, got {show(v)}")
    return v


def read_str_list(c: dict, key: str, default: Sequence[str] = (), max_chars: int = MAX_NAME_CHARS) -> tuple[str, ...]:
    v = c.get(key, list(default))
    if not isinstance(v, list) or len(v) > MAX_LIST_ITEMS or not all(is_text(s, max_chars) for s in v):
        raise invalid(f"'{key}' must be a list of at most {MAX_LIST_ITEMS} strings, got {show(v)}")
    return tuple(v)


def read_array(arrays: dict[str, np.ndarray], name: str, dtypes: Sequence[str], ndim: int) -> np.ndarray:
    a = arrays.get(name)
    if a is None or a.dtype.name not in dtypes or a.ndim != ndim:
        raise invalid(f"array '{name}' must be present with dtype in {dtypes} and {ndim} dimensions")
    return a

