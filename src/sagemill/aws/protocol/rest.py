"""REST bindings shared by REST-JSON and REST-XML: members in the URI, query string, headers and status.

Requests: `parse_bound_members` reads every member whose `location` is `uri`, `querystring`, `header` or
`headers` (a prefix map). Responses: `serialize_bound_members` writes `header`, `headers` and `statusCode`
members. Timestamps default to RFC 822 in headers and ISO 8601 in labels and query strings; `jsonvalue`
header strings carry base64-encoded JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.model import OperationModel, Shape

from sagemill.aws.errors import SerializationError
from sagemill.aws.protocol.base import (
    RESPONSE_LOCATIONS,
    format_scalar,
    format_timestamp,
    parse_scalar_text,
    parse_timestamp,
    timestamp_format,
)
from sagemill.aws.protocol.rest_routes import compile_uri, query_multidict
from sagemill.aws.request import AwsRequest

_HTTP_DATE = re.compile(r"[A-Za-z]{3},\s*\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{2}:\d{2}:\d{2}\s+GMT")


def location(member: Shape) -> str | None:
    value = member.serialization.get("location")
    return str(value) if value else None


def wire_name(member_name: str, member: Shape) -> str:
    return str(member.serialization.get("name", member_name))


def body_member_names(shape: Shape, *, response: bool = False) -> list[str]:
    """Members carried in the body: those with no `location` (in a response, none that applies there)."""
    return [
        name
        for name, member in shape.members.items()
        if location(member) is None or (response and location(member) not in RESPONSE_LOCATIONS)
    ]


def drop_content_coding(params: dict[str, Any], shape: Shape, coding: str) -> None:
    """Remove a coding the server has undone (gzip, aws-chunked) from the member bound to Content-Encoding."""
    for name, member in shape.members.items():
        if location(member) != "header" or wire_name(name, member).lower() != "content-encoding":
            continue
        value = params.get(name)
        if isinstance(value, str):
            kept = [part.strip() for part in value.split(",") if part.strip().lower() != coding]
            if kept:
                params[name] = ", ".join(kept)
            else:
                del params[name]


def is_jsonvalue(shape: Shape) -> bool:
    return shape.type_name == "string" and bool(shape.serialization.get("jsonvalue"))


# -- request side -------------------------------------------------------------------------------------


def parse_bound_members(request: AwsRequest, operation: OperationModel, shape: Shape) -> dict[str, Any]:
    """Members bound to the URI, query string and headers, converted to their shapes' types."""
    template = compile_uri(str(operation.http.get("requestUri", "/")))
    labels = template.match_labels(request.path or "/") or {}
    query = query_multidict(request)
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        where = location(member)
        if where is None:
            continue
        key = wire_name(name, member)
        if where == "uri":
            if key in labels:
                params[name] = _text_value(member, labels[key], f"label {key}")
        elif where == "querystring":
            value = _query_value(member, key, query, template.static_keys)
            if value is not None:
                params[name] = value
        elif where == "header":
            raw = request.headers.get(key.lower())
            if raw is not None:
                params[name] = parse_header(member, raw, key)
        elif where == "headers":
            prefixed = _prefix_headers(member, key, request.headers)
            if prefixed:
                params[name] = prefixed
    return params


def _text_value(shape: Shape, text: str, where: str) -> Any:
    try:
        return parse_scalar_text(shape, text)
    except SerializationError as exc:
        raise SerializationError(f"{exc.message[:-1]} in {where}.") from exc


def _query_value(shape: Shape, key: str, query: dict[str, list[str]], static: frozenset[str]) -> Any:
    if shape.type_name == "map":
        values = shape.value
        collected: dict[str, Any] = {}
        for name, found in query.items():
            if name in static:
                continue
            if values.type_name == "list":
                collected[name] = [_text_value(values.member, v, f"query {name}") for v in found]
            else:
                collected[name] = _text_value(values, found[0], f"query {name}")
        return collected or None
    named = query.get(key)
    if not named:
        return None
    if shape.type_name == "list":
        return [_text_value(shape.member, v, f"query {key}") for v in named]
    return _text_value(shape, named[0], f"query {key}")


def _prefix_headers(shape: Shape, prefix: str, headers: Mapping[str, str]) -> dict[str, Any]:
    lowered = prefix.lower()
    return {
        name[len(lowered) :]: _text_value(shape.value, value, f"header {name}")
        for name, value in headers.items()
        if name.startswith(lowered)
    }


def parse_header(shape: Shape, raw: str, name: str) -> Any:
    """One header value → the member's Python value (lists split on commas, quotes honoured)."""
    if shape.type_name == "list":
        if not raw.strip():
            return []
        member = shape.member
        if member.type_name == "timestamp" and timestamp_format(member, "rfc822") == "rfc822":
            items = _HTTP_DATE.findall(raw)
        else:
            items = split_header_list(raw)
        return [parse_header(member, item, name) for item in items]
    if is_jsonvalue(shape):
        try:
            return json.loads(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise SerializationError(f"Header {name} is not base64-encoded JSON.") from exc
    if shape.type_name == "string":
        return raw
    return _text_value(shape, raw.strip(), f"header {name}")


def split_header_list(raw: str) -> list[str]:
    """Split a comma-separated header list; double-quoted items may hold commas and `\\"`."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    was_quoted = False
    index = 0
    while index < len(raw):
        char = raw[index]
        if quoted:
            if char == "\\" and index + 1 < len(raw):
                index += 1
                current.append(raw[index])
            elif char == '"':
                quoted = False
            else:
                current.append(char)
        elif char == '"' and not "".join(current).strip():
            quoted = was_quoted = True
            current = []
        elif char == ",":
            items.append("".join(current) if was_quoted else "".join(current).strip())
            current, was_quoted = [], False
        elif not (was_quoted and char.isspace()):
            current.append(char)
        index += 1
    items.append("".join(current) if was_quoted else "".join(current).strip())
    return items


# -- response side ------------------------------------------------------------------------------------


def serialize_bound_members(shape: Shape, values: Mapping[str, Any]) -> tuple[int | None, dict[str, str]]:
    """The status code (if a member carries it) and the headers from `header`/`headers` members."""
    status: int | None = None
    headers: dict[str, str] = {}
    for name, member in shape.members.items():
        where = location(member)
        value = values.get(name)
        if where is None or value is None:
            continue
        if where == "statusCode":
            status = int(value)
        elif where == "header":
            if member.type_name == "list" and not value:
                continue
            headers[wire_name(name, member)] = header_value(member, value)
        elif where == "headers":
            prefix = str(member.serialization.get("name", ""))  # unnamed: the keys are whole header names
            for key, item in value.items():
                if item is not None:
                    headers[f"{prefix}{key}"] = header_value(member.value, item)
    return status, headers


def header_value(shape: Shape, value: Any) -> str:
    """A member's value as header text."""
    if shape.type_name == "list":
        member = shape.member
        parts = [header_value(member, item) for item in value if item is not None]
        if member.type_name == "string":
            parts = [_quote_list_item(part) for part in parts]
        return ", ".join(parts) if member.type_name == "timestamp" else ",".join(parts)
    if is_jsonvalue(shape):
        text = json.dumps(value, separators=(",", ":"))
        return base64.b64encode(text.encode()).decode("ascii")
    if shape.type_name == "timestamp":
        stamp = value if isinstance(value, datetime) else parse_timestamp(value)
        return str(format_timestamp(stamp, timestamp_format(shape, "rfc822")))
    return format_scalar(shape, value, "rfc822")


def _quote_list_item(item: str) -> str:
    if '"' in item or "," in item:
        return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return item


def has_header(headers: Mapping[str, str], name: str) -> bool:
    lowered = name.lower()
    return any(key.lower() == lowered for key in headers)
