"""LogWriter: how the platform's own training jobs and endpoints append their output to CloudWatch Logs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sagemill.services.clock import Clock, system_clock
from sagemill.store.logs import LogGroupKey, LogStore

EVENT_OVERHEAD = 26
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
MAX_MESSAGE_BYTES = MAX_BATCH_BYTES - EVENT_OVERHEAD


def _fit(message: str) -> tuple[str, int]:
    """The message cut to what one event may hold, and its UTF-8 size."""
    size = len(message.encode("utf-8", "surrogatepass"))
    if size <= MAX_MESSAGE_BYTES:
        return message, size
    cut = message.encode("utf-8", "surrogatepass")[:MAX_MESSAGE_BYTES].decode("utf-8", "ignore")
    return cut, len(cut.encode("utf-8", "surrogatepass"))


def batches(lines: Sequence[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    """Consecutive runs of lines within PutLogEvents' limits (10,000 events, 1 MB with overheads)."""
    batch: list[tuple[int, str]] = []
    size = 0
    for timestamp, message in lines:
        message, length = _fit(message)
        cost = length + EVENT_OVERHEAD
        if batch and (len(batch) >= MAX_BATCH_EVENTS or size + cost > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((timestamp, message))
        size += cost
    if batch:
        yield batch


class LogWriter:
    """Appends lines to a stream, creating its group and stream on first use.

    Unlike PutLogEvents, the writer takes lines in any time order and of any age (a job's clock is
    the platform's own), never rejects a line, and cuts a line longer than one event may hold.
    Each batch of up to 10,000 lines / 1 MB is one transaction: a crash loses whole batches, never
    half of one. Thread-safe: many jobs may write at once, also to one stream.
    """

    def __init__(self, store: LogStore, clock: Clock = system_clock) -> None:
        self.store = store
        self.clock = clock

    def append(
        self, account: str, region: str, group: str, stream: str, lines: Sequence[tuple[int, str]]
    ) -> int:
        """Store `(timestamp_ms, message)` lines in `group`/`stream`; returns how many were stored."""
        key = LogGroupKey(account, region, group)
        stored = 0
        for batch in batches(lines):
            stored += self.store.append_events(key, stream, batch, int(self.clock() * 1000), create=True)
        return stored

    def ensure_stream(self, account: str, region: str, group: str, stream: str) -> None:
        """Create the group and stream if missing, so a job's stream is listed before its first line."""
        self.store.append_events(
            LogGroupKey(account, region, group), stream, [], int(self.clock() * 1000), create=True
        )
