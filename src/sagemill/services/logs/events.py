"""Log events: PutLogEvents' batch rules, GetLogEvents' position paging, FilterLogEvents' search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.services.clock import Clock
from sagemill.services.logs import tokens
from sagemill.services.logs.errors import (
    group_not_found,
    invalid_parameter,
    invalid_token,
    stream_not_found,
)
from sagemill.services.logs.filter_pattern import FilterPattern, compile_pattern
from sagemill.services.logs.groups import now_ms, require_group
from sagemill.services.logs.retention import floor_ms
from sagemill.store.logs import (
    EventCursor,
    EventQuery,
    LogEvent,
    LogGroup,
    LogGroupKey,
    LogGroupNotFound,
    LogStore,
    LogStreamNotFound,
)

# PutLogEvents' published limits: sizes count UTF-8 message bytes plus 26 bytes per event.
EVENT_OVERHEAD = 26
MAX_BATCH_BYTES = 1_048_576
MAX_EVENT_BYTES = 1_048_576
TOO_NEW_MS = 2 * 3_600_000
TOO_OLD_MS = 14 * 86_400_000
MAX_SPAN_MS = 24 * 3_600_000
# A response carries at most this many events and about this many bytes, as AWS's pages do.
MAX_EVENTS = 10_000
MAX_RESPONSE_BYTES = 1_048_576
# FilterLogEvents examines at most this many events per call, then hands back a token (AWS also
# answers partial, even empty, pages with a nextToken).
SCAN_BUDGET = 20_000
SCAN_BATCH = 1_000


def event_size(message: str) -> int:
    return len(message.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD


def _check_batch(events: Sequence[Mapping[str, Any]]) -> None:
    total = 0
    previous: int | None = None
    for event in events:
        size = event_size(event["message"])
        if size > MAX_EVENT_BYTES:
            raise invalid_parameter(f"Log event too large: {size} bytes exceeds limit of {MAX_EVENT_BYTES}")
        total += size
        if previous is not None and event["timestamp"] < previous:
            raise invalid_parameter(
                "Log events in a single PutLogEvents request must be in chronological order."
            )
        previous = event["timestamp"]
    if total > MAX_BATCH_BYTES:
        raise invalid_parameter(f"Upload too large: {total} bytes exceeds limit of {MAX_BATCH_BYTES}")


def _accepted(
    group: LogGroup, events: Sequence[Mapping[str, Any]], now: int
) -> tuple[int, int, dict[str, int]]:
    """The [first, end) slice of a chronological batch that AWS keeps, and rejectedLogEventsInfo."""
    too_old = now - TOO_OLD_MS
    expired = floor_ms(group, now)
    too_new = now + TOO_NEW_MS
    rejected: dict[str, int] = {}
    first, end = 0, len(events)
    for index, event in enumerate(events):
        timestamp = event["timestamp"]
        if timestamp < too_old:
            rejected["tooOldLogEventEndIndex"] = index
            first = index + 1
        elif expired is not None and timestamp < expired:
            rejected["expiredLogEventEndIndex"] = index
            first = index + 1
        elif timestamp > too_new:
            rejected["tooNewLogEventStartIndex"] = index
            end = index
            break
    return first, max(first, end), rejected


def _trim(events: list[LogEvent], keep_newest: bool) -> list[LogEvent]:
    """At most about 1 MB of events, at least one; drops from the far end of the reading direction."""
    ordered = reversed(events) if keep_newest else iter(events)
    kept: list[LogEvent] = []
    total = 0
    for event in ordered:
        total += event_size(event.message)
        if kept and total > MAX_RESPONSE_BYTES:
            break
        kept.append(event)
    return kept[::-1] if keep_newest else kept


def _lower_bound(group: LogGroup, start: int | None, now: int) -> int | None:
    """The inclusive lower time bound of a read: the caller's start, raised to what retention keeps."""
    floor = floor_ms(group, now)
    if floor is None:
        return start
    return floor if start is None else max(start, floor)


def _wire_event(event: LogEvent) -> dict[str, Any]:
    return {"timestamp": event.timestamp, "message": event.message, "ingestionTime": event.ingestion_ms}


def _filtered_event(event: LogEvent) -> dict[str, Any]:
    return {
        "logStreamName": event.stream_name,
        "timestamp": event.timestamp,
        "message": event.message,
        "ingestionTime": event.ingestion_ms,
        "eventId": tokens.position_digits(event.after),
    }


def _filter_token(descending: bool, cursor: EventCursor) -> str:
    return tokens.encode_page(
        {"o": "FilterLogEvents", "d": descending, "t": cursor.timestamp, "s": cursor.seq}
    )


def _filter_position(token: str) -> tuple[bool, EventCursor]:
    payload = tokens.decode_page(token, {"o": "FilterLogEvents"})
    descending = payload.get("d")
    if not isinstance(descending, bool):
        raise invalid_token()
    return descending, EventCursor(
        tokens.whole_number(payload.get("t")), tokens.whole_number(payload.get("s"))
    )


def search(
    store: LogStore, base: EventQuery, pattern: FilterPattern, limit: int
) -> tuple[list[LogEvent], EventCursor | None]:
    """Up to `limit` matching events from `base.cursor` on, and where to resume (None: no more)."""
    batch_size = limit + 1 if pattern.matches_everything else max(SCAN_BATCH, limit + 1)
    matches: list[LogEvent] = []
    cursor = base.cursor
    scanned = 0
    while True:
        query = EventQuery(**{**_fields(base), "cursor": cursor, "limit": batch_size})
        batch = store.read_events(query)
        for event in batch:
            scanned += 1
            cursor = event.before if base.descending else event.after
            if pattern.matches(event.message):
                matches.append(event)
                if len(matches) > limit:
                    last = matches[limit - 1]
                    return matches[:limit], last.before if base.descending else last.after
        if len(batch) < batch_size:
            return matches, None
        if scanned >= SCAN_BUDGET:
            return matches, cursor


def _fields(query: EventQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in EventQuery.__dataclass_fields__}


def operations(store: LogStore, clock: Clock) -> dict[str, Handler]:
    def put_log_events(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        # The sequence token is accepted and ignored, as AWS now does; parallel writers are fine.
        events = params["logEvents"]
        _check_batch(events)
        key = LogGroupKey(context.account_id, context.region, params["logGroupName"])
        group = store.get_log_group(key, count_bytes=False)
        if group is None:
            raise group_not_found()
        now = now_ms(clock)
        first, end, rejected = _accepted(group, events, now)
        kept = [(e["timestamp"], e["message"]) for e in events[first:end]]
        if kept and kept[-1][0] - kept[0][0] > MAX_SPAN_MS:
            raise invalid_parameter(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
            )
        try:
            store.append_events(key, params["logStreamName"], kept, now)
        except LogGroupNotFound as exc:
            raise group_not_found() from exc
        except LogStreamNotFound as exc:
            raise stream_not_found() from exc
        result: dict[str, Any] = {"nextSequenceToken": tokens.position_digits(EventCursor(now, len(kept)))}
        if rejected:
            result["rejectedLogEventsInfo"] = rejected
        return result

    def get_log_events(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = require_group(store, context, params)
        stream = params["logStreamName"]
        if store.get_log_stream(group.key, stream) is None:
            raise stream_not_found()
        start = params.get("startTime")
        cursor: EventCursor | None = None
        if params.get("nextToken"):
            direction, cursor = tokens.decode_position(params["nextToken"])
        else:
            direction = tokens.FORWARD if params.get("startFromHead") else tokens.BACKWARD
        descending = direction == tokens.BACKWARD
        events = store.read_events(
            EventQuery(
                group=group.key,
                stream_names=(stream,),
                start_ms=_lower_bound(group, start, now_ms(clock)),
                end_ms=params.get("endTime"),
                cursor=cursor,
                descending=descending,
                limit=int(params.get("limit") or MAX_EVENTS),
            )
        )
        if descending:
            events.reverse()
        events = _trim(events, keep_newest=descending)
        if events:
            forward, backward = events[-1].after, events[0].before
        else:
            # Nothing here: both tokens name the gap the caller is at, so asking again is stable.
            forward = backward = cursor if cursor is not None else EventCursor(start or 0, -1)
        return {
            "events": [_wire_event(e) for e in events],
            "nextForwardToken": tokens.encode_position(tokens.FORWARD, forward),
            "nextBackwardToken": tokens.encode_position(tokens.BACKWARD, backward),
        }

    def filter_log_events(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = require_group(store, context, params)
        names = params.get("logStreamNames")
        prefix = params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise invalid_parameter(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
            )
        pattern = compile_pattern(params.get("filterPattern"))
        cursor: EventCursor | None = None
        if params.get("nextToken"):
            descending, cursor = _filter_position(params["nextToken"])
        else:
            descending = params.get("startFromHead") is False
        end = params.get("endTime")
        base = EventQuery(
            group=group.key,
            stream_names=tuple(names) if names is not None else None,
            stream_prefix=prefix,
            start_ms=_lower_bound(group, params.get("startTime"), now_ms(clock)),
            end_ms=end + 1 if end is not None else None,  # FilterLogEvents' endTime is inclusive
            cursor=cursor,
            descending=descending,
        )
        limit = int(params.get("limit") or MAX_EVENTS)
        found, resume = search(store, base, pattern, limit)
        page = _trim(found, keep_newest=False)
        if len(page) < len(found):
            resume = page[-1].before if descending else page[-1].after
        result: dict[str, Any] = {"events": [_filtered_event(e) for e in page], "searchedLogStreams": []}
        if resume is not None:
            result["nextToken"] = _filter_token(descending, resume)
        return result

    return {
        "PutLogEvents": put_log_events,
        "GetLogEvents": get_log_events,
        "FilterLogEvents": filter_log_events,
    }
