"""The clock services read, passed in so tests can hold time still."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Seconds since the epoch, as time.time returns them."""

system_clock: Clock = time.time


def to_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def to_seconds(value: datetime) -> float:
    return value.timestamp()
