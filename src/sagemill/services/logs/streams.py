"""Log streams: create, describe (by name or by last event time) and delete."""

from __future__ import annotations

from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.domain.errors import AlreadyExists
from sagemill.services.clock import Clock
from sagemill.services.logs import tokens
from sagemill.services.logs.arns import stream_arn
from sagemill.services.logs.errors import (
    deletion_protected,
    group_not_found,
    invalid_parameter,
    invalid_token,
    stream_exists,
    stream_not_found,
)
from sagemill.services.logs.groups import group_key, now_ms, require_group
from sagemill.store.logs import LogGroupNotFound, LogStore, LogStream, LogStreamQuery

DEFAULT_LIMIT = 50
ORDER_BY_NAME = "LogStreamName"
ORDER_BY_LAST_EVENT = "LastEventTime"


def describe(stream: LogStream) -> dict[str, Any]:
    out: dict[str, Any] = {
        "logStreamName": stream.name,
        "creationTime": stream.created_ms,
        "arn": stream_arn(stream.group, stream.name),
        # AWS has reported 0 for streams since June 2019; groups carry the real figure.
        "storedBytes": 0,
    }
    if stream.first_event_ms is not None:
        out["firstEventTimestamp"] = stream.first_event_ms
    if stream.last_event_ms is not None:
        out["lastEventTimestamp"] = stream.last_event_ms
    if stream.last_ingestion_ms is not None:
        out["lastIngestionTime"] = stream.last_ingestion_ms
    return out


def operations(store: LogStore, clock: Clock) -> dict[str, Handler]:
    def create_log_stream(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = group_key(context, params)
        try:
            store.create_log_stream(key, params["logStreamName"], now_ms(clock))
        except LogGroupNotFound as exc:
            raise group_not_found() from exc
        except AlreadyExists as exc:
            raise stream_exists() from exc
        return {}

    def delete_log_stream(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = require_group(store, context, params)
        if group.deletion_protection:
            raise deletion_protected()
        if not store.delete_log_stream(group.key, params["logStreamName"]):
            raise stream_not_found()
        return {}

    def describe_log_streams(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = require_group(store, context, params)
        prefix = params.get("logStreamNamePrefix")
        order_by = params.get("orderBy") or ORDER_BY_NAME
        by_last_event = order_by == ORDER_BY_LAST_EVENT
        if by_last_event and prefix is not None:
            raise invalid_parameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
        descending = bool(params.get("descending"))
        # A token resumes only the listing it came from: same group, prefix, order and direction.
        binding = {
            "o": "DescribeLogStreams",
            "g": group.key.name,
            "p": prefix,
            "b": order_by,
            "d": descending,
        }
        after: tuple[int, str] | None = None
        if params.get("nextToken"):
            payload = tokens.decode_page(params["nextToken"], binding)
            name = payload.get("k")
            if not isinstance(name, str):
                raise invalid_token()
            after = (tokens.whole_number(payload.get("v", -1)), name)
        query = LogStreamQuery(
            group=group.key,
            name_prefix=prefix,
            by_last_event=by_last_event,
            descending=descending,
            after=after,
            limit=int(params.get("limit") or DEFAULT_LIMIT),
        )
        page, more = store.list_log_streams(query)
        result: dict[str, Any] = {"logStreams": [describe(s) for s in page]}
        if more and page:
            last = page[-1]
            value = last.last_event_ms if last.last_event_ms is not None else -1
            result["nextToken"] = tokens.encode_page({**binding, "k": last.name, "v": value})
        return result

    return {
        "CreateLogStream": create_log_stream,
        "DeleteLogStream": delete_log_stream,
        "DescribeLogStreams": describe_log_streams,
    }
