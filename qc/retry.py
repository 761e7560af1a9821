"""Retries with exponential backoff for transient failures (a database restarting, a network file
system hiccup). Whether a failure is transient is the caller's call: it passes a predicate, so a real
error (a bad file, a constraint violation) still fails at once.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: errno values that mean "try again in a moment", not "this file is bad".
TRANSIENT_ERRNOS = frozenset({errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.EIO, errno.ENOLCK, errno.ESTALE,
                              errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNABORTED, errno.EHOSTUNREACH})

log = logging.getLogger("callqc.retry")


def transient_os_error(exc: BaseException | None) -> bool:
    """An OSError a retry may cure: I/O error, stale NFS handle, busy, timed out (not: missing, denied)."""
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


def retry(fn: Callable[[], T], is_transient: Callable[[BaseException], bool], *, attempts: int = 4,
          delay: float = 1.0, factor: float = 4.0, max_delay: float = 60.0, what: str = "operation",
          sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``, called again after ``delay``, ``delay * factor``, ... seconds (at most ``max_delay``)
    while it raises an exception ``is_transient`` accepts, at most ``attempts`` calls in all. The last
    exception, or any other, propagates unchanged."""
    wait = delay
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            log.warning("%s failed (%s: %s), attempt %d of %d; retrying in %.1f s", what, type(exc).__name__,
                        str(exc).splitlines()[0][:200] if str(exc) else "", attempt, attempts, wait)
            sleep(wait)
            wait = min(wait * factor, max_delay)
    raise AssertionError("unreachable")
