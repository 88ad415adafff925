"""Local fakes of the outside platforms, each a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable, Sized
from typing import TypeVar

Found = TypeVar("Found", bound=Sized)


def wait_for_count(
    read: Callable[[], Found], count: int, timeout: float, what: str
) -> Found:
    """Poll `read` until it holds `count` items; what it read, or AssertionError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = read()
        if len(found) >= count:
            return found
        time.sleep(0.05)
    found = read()
    raise AssertionError(f"{what}: {len(found)} of {count} arrived: {found}")
