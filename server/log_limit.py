"""A log that cannot be flooded: at most `burst` lines per `window_s`, then one line saying how many
were suppressed. The socket thread logs every message it drops through one, so a hostile client can
neither fill the disk nor slow the server down with its own garbage."""
from __future__ import annotations

import logging
import time


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, burst: int = 20, window_s: float = 10.0):
        self._log, self._burst, self._window_s = logger, burst, window_s
        self._window_start, self._count, self._suppressed = 0.0, 0, 0

    def warning(self, msg: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._window_start > self._window_s:
            if self._suppressed:
                self._log.warning("%d more such messages suppressed in the last %.0f s", self._suppressed,
                                  self._window_s)
            self._window_start, self._count, self._suppressed = now, 0, 0
        if self._count < self._burst:
            self._count += 1
            self._log.warning(msg, *args)
        else:
            self._suppressed += 1
