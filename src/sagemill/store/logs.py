"""The LogStore port: CloudWatch Logs groups, streams and events, durable and scoped by (account, region).

Contract, for every adapter:
- Each method is one transaction: it commits before returning, or changes nothing and raises.
- Methods are thread-safe; request threads and the platform's own log writers share one LogStore.
- Times are integer milliseconds since the epoch, as CloudWatch Logs reports them.
- Names compare by code point and are case-sensitive; prefixes are plain prefixes (no wildcards).
- Events of a stream are ordered by (timestamp, seq); `seq` is assigned by the store at append time,
  grows with every append, and is unique across the store, so (timestamp, seq) totally orders every
  event. An `EventCursor` names the gap just after the event (timestamp, seq): reading ascending from a
  cursor returns the events after it, reading descending returns the events at or before it.
- Appends to one stream are serialized: an append that commits later gets larger seqs than one
  that committed earlier, so a reader that pages forward never misses an event that lands behind its
  cursor with the same timestamp.
- `create_log_stream`/`append_events` raise LogGroupNotFound or LogStreamNotFound (both NotFound);
  creates raise AlreadyExists when the name is taken, also when two callers race.
- Messages are stored as text every backend keeps: NUL characters and lone surrogates become U+FFFD.
- Deleting a group deletes its streams, events and tags; deleting a stream deletes its events.
- The store never applies retention on reads; callers bound reads with `start_ms`. `purge_expired`
  deletes what retention no longer keeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sagemill.domain.errors import NotFound


class LogGroupNotFound(NotFound):
    """The log group does not exist."""


class LogStreamNotFound(NotFound):
    """The log group exists but the log stream does not."""


@dataclass(frozen=True, slots=True)
class LogGroupKey:
    """Where a log group lives."""

    account_id: str
    region: str
    name: str


@dataclass(frozen=True, slots=True)
class LogGroup:
    """One log group. `stored_bytes` is the UTF-8 size of the messages it holds, kept roughly."""

    key: LogGroupKey
    created_ms: int
    retention_days: int | None = None
    kms_key_id: str | None = None
    log_group_class: str = "STANDARD"
    deletion_protection: bool = False
    stored_bytes: int = 0


@dataclass(frozen=True, slots=True)
class LogStream:
    """One log stream; the event times are absent until it has events."""

    group: LogGroupKey
    name: str
    created_ms: int
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    last_ingestion_ms: int | None = None
    stored_bytes: int = 0


@dataclass(frozen=True, slots=True)
class EventCursor:
    """The gap just after the event (timestamp, seq); (t, -1) is the gap before every event at t."""

    timestamp: int
    seq: int


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One stored event."""

    stream_name: str
    timestamp: int
    seq: int
    ingestion_ms: int
    message: str

    @property
    def after(self) -> EventCursor:
        """The gap after this event: where an ascending read resumes."""
        return EventCursor(self.timestamp, self.seq)

    @property
    def before(self) -> EventCursor:
        """The gap before this event: where a descending read resumes."""
        return EventCursor(self.timestamp, self.seq - 1)


@dataclass(frozen=True, slots=True)
class LogGroupQuery:
    """A page of log groups in name order (code point), after `after_name`."""

    account_id: str
    region: str
    name_prefix: str | None = None
    name_contains: str | None = None  # case-sensitive substring
    names: tuple[str, ...] | None = None
    classes: tuple[str, ...] | None = None
    after_name: str | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class LogStreamQuery:
    """A page of a group's streams, by name or by (last event time, name).

    `after` is the (last event time, name) of the previous page's last stream; the time part is
    ignored when ordering by name. Streams without events sort as if their last event were at -1.
    """

    group: LogGroupKey
    name_prefix: str | None = None
    by_last_event: bool = False
    descending: bool = False
    after: tuple[int, str] | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Events of one group in (timestamp, seq) order, optionally only some streams.

    `start_ms` is inclusive and `end_ms` exclusive. Ascending reads return the events after `cursor`;
    descending reads return the events at or before it, newest first.
    """

    group: LogGroupKey
    stream_names: tuple[str, ...] | None = None
    stream_prefix: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    cursor: EventCursor | None = None
    descending: bool = False
    limit: int = 10_000


class LogStore(Protocol):
    """Durable log state; see the module docstring for the contract."""

    def create_log_group(self, group: LogGroup, tags: Mapping[str, str]) -> None: ...

    def get_log_group(self, key: LogGroupKey, *, count_bytes: bool = True) -> LogGroup | None:
        """The group; with `count_bytes=False` its stored_bytes reads 0 (cheaper for hot paths)."""
        ...

    def list_log_groups(self, query: LogGroupQuery) -> tuple[list[LogGroup], bool]:
        """One page and whether more groups follow it."""
        ...

    def delete_log_group(self, key: LogGroupKey) -> bool: ...

    def set_retention(self, key: LogGroupKey, days: int | None) -> bool:
        """Set (or with None, remove) the retention; False when the group does not exist."""
        ...

    def set_deletion_protection(self, key: LogGroupKey, enabled: bool) -> bool: ...

    def create_log_stream(self, group: LogGroupKey, name: str, created_ms: int) -> None: ...

    def get_log_stream(self, group: LogGroupKey, name: str) -> LogStream | None: ...

    def list_log_streams(self, query: LogStreamQuery) -> tuple[list[LogStream], bool]: ...

    def delete_log_stream(self, group: LogGroupKey, name: str) -> bool: ...

    def append_events(
        self,
        group: LogGroupKey,
        stream: str,
        events: Sequence[tuple[int, str]],
        ingestion_ms: int,
        *,
        create: bool = False,
    ) -> int:
        """Store (timestamp, message) pairs in one transaction; returns how many were stored.

        With `create`, a missing group or stream is created first (at `ingestion_ms`), in the same
        transaction; otherwise a missing one raises LogGroupNotFound / LogStreamNotFound.
        """
        ...

    def read_events(self, query: EventQuery) -> list[LogEvent]:
        """Up to `query.limit` events in query order; none when the group does not exist."""
        ...

    def purge_expired(self, now_ms: int) -> int:
        """Delete every event older than its group's retention at `now_ms`; returns how many."""
        ...

    def set_group_tags(self, key: LogGroupKey, tags: Mapping[str, str]) -> bool:
        """Add or overwrite tags; False when the group does not exist."""
        ...

    def remove_group_tags(self, key: LogGroupKey, keys: Sequence[str]) -> bool: ...

    def group_tags(self, key: LogGroupKey) -> dict[str, str] | None:
        """The group's tags, or None when the group does not exist."""
        ...
