"""The contract every protocol implements, and value conversions they share.

Values crossing the boundary are plain Python: str, int, float, bool, bytes (blobs),
timezone-aware `datetime` (timestamps), lists and dicts keyed by the model's member names.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import functools
import math
import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, ParamSpec, Protocol, TypeVar

from botocore.model import OperationModel, ServiceModel, Shape

from sagemill.aws.errors import SerializationError, ServiceError
from sagemill.aws.request import AwsRequest, AwsResponse

# Member locations that mean something in a response; others (uri, querystring) travel in the body there.
RESPONSE_LOCATIONS = frozenset({"header", "headers", "statusCode"})


class WireProtocol(Protocol):
    """A protocol family: finds the operation, parses the request, serializes results and errors.

    Implementations are stateless and thread-safe. `match_operation` raises a ServiceError
    (UnknownOperationException or the family's equivalent) when no operation fits; `parse`
    raises SerializationError for a body it cannot decode. Serializers never raise on values
    that satisfy the output shape.
    """

    name: str

    def match_operation(self, request: AwsRequest, service: ServiceModel) -> OperationModel: ...

    def parse(self, request: AwsRequest, operation: OperationModel) -> dict[str, Any]: ...

    def serialize(
        self, result: Mapping[str, Any], operation: OperationModel, request_id: str
    ) -> AwsResponse: ...

    def serialize_error(
        self,
        error: ServiceError,
        service: ServiceModel,
        operation: OperationModel | None,
        request_id: str,
    ) -> AwsResponse: ...


def parse_timestamp(value: Any) -> datetime:
    """A timestamp in any of AWS's wire forms (epoch seconds, ISO 8601, RFC 822) → aware datetime."""
    if isinstance(value, bool):
        raise SerializationError("Expected a timestamp, got a boolean.")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise SerializationError("Timestamp is not a finite number.")
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise SerializationError("Timestamp is out of range.") from exc
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except (ValueError, OverflowError, OSError):
            pass
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
        try:
            return parsedate_to_datetime(text).astimezone(UTC)
        except (TypeError, ValueError, IndexError) as exc:
            raise SerializationError(f"Cannot parse timestamp '{text[:64]}'.") from exc
    raise SerializationError("Expected a timestamp.")


def epoch_seconds(value: datetime) -> int | float:
    """Epoch seconds, as an int when whole (botocore prints both)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = calendar.timegm(value.utctimetuple()) + value.microsecond / 1_000_000
    return int(seconds) if seconds == int(seconds) else round(seconds, 3)


def iso8601(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc822(value: datetime) -> str:
    return formatdate(epoch_seconds(value), usegmt=True)


def format_timestamp(value: datetime, fmt: str) -> str | int | float:
    if fmt == "unixTimestamp":
        return epoch_seconds(value)
    if fmt == "rfc822":
        return rfc822(value)
    return iso8601(value)


def decode_blob(value: Any) -> bytes:
    if not isinstance(value, str):
        raise SerializationError("Expected a base64-encoded string.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SerializationError("Invalid base64 in a blob member.") from exc


def encode_blob(value: bytes | str) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


def timestamp_format(shape: Shape, default: str) -> str:
    return str(
        shape.serialization.get("timestampFormat") or getattr(shape, "timestampFormat", None) or default
    )


def request_id_headers(request_id: str) -> dict[str, str]:
    return {"x-amzn-RequestId": request_id}


def find_error_shape(service: ServiceModel, operation: OperationModel | None, code: str) -> Shape | None:
    """The modelled error shape for a code, matched by shape name or by its `error.code`."""
    candidates = list(operation.error_shapes) if operation is not None else []
    for shape in candidates:
        if code in (shape.name, shape.error_code):
            return shape
    by_code = service.shape_for_error_code(code)
    if by_code is not None:
        return by_code
    if code in service.shape_names:
        shape = service.shape_for(code)
        if shape.metadata.get("exception"):
            return shape
    return None


def wire_error_code(error: ServiceError, shape: Shape | None) -> str:
    """The code a client matches: the shape's `error.code` when modelled, else the error's own."""
    if shape is not None:
        return str(shape.error_code)
    return error.code


def format_float(value: float | int) -> str:
    """A number as AWS writes it in text: special values spelled NaN/Infinity/-Infinity."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    return str(value)


def parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise SerializationError(f"Expected a number, got '{text[:64]}'.") from exc


def parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError as exc:
        raise SerializationError(f"Expected an integer, got '{text[:64]}'.") from exc


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise SerializationError(f"Expected a boolean, got '{text[:64]}'.")
    return lowered == "true"


def format_scalar(shape: Shape, value: Any, default_timestamp: str) -> str:
    """A scalar as text in a header, query string, label or XML element."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("float", "double"):
        return format_float(value)
    if kind == "timestamp":
        stamp = value if isinstance(value, datetime) else parse_timestamp(value)
        return str(format_timestamp(stamp, timestamp_format(shape, default_timestamp)))
    if kind == "blob":
        return encode_blob(value)
    return str(value)


def parse_scalar_text(shape: Shape, text: str) -> Any:
    """Text from a header, query string, label or XML element → the shape's Python value."""
    kind = shape.type_name
    if kind in ("integer", "long", "short", "byte"):
        return parse_int(text)
    if kind in ("float", "double"):
        return parse_float(text)
    if kind == "boolean":
        return parse_bool(text)
    if kind == "timestamp":
        return parse_timestamp(text)
    if kind == "blob":
        return decode_blob(text)
    return text


MAX_DECOMPRESSED_BODY = 64 * 1024 * 1024


def request_body(request: AwsRequest, operation: OperationModel) -> bytes:
    """The body, gunzipped when the operation allows request compression and the client used it.

    botocore gzips large bodies of operations with the `requestcompression` trait (CloudWatch
    PutMetricData) and says so in `Content-Encoding`. Elsewhere (S3 PutObject) `Content-Encoding` is
    the caller's metadata and the body is left as sent.
    """
    if not operation.request_compression or not is_gzipped(request):
        return request.body
    return gunzip(request.body)


def is_gzipped(request: AwsRequest) -> bool:
    return "gzip" in [part.strip().lower() for part in request.header("content-encoding").split(",")]


def gunzip(data: bytes) -> bytes:
    """Decompress a gzip body, refusing one that inflates past MAX_DECOMPRESSED_BODY."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        body = inflater.decompress(data, MAX_DECOMPRESSED_BODY)
    except zlib.error as exc:
        raise SerializationError("The request body is not valid gzip data.") from exc
    if inflater.unconsumed_tail:
        raise SerializationError("The decompressed request body is too large.")
    return body


_P = ParamSpec("_P")
_R = TypeVar("_R")


def guard_depth(parse: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn a RecursionError from a pathologically nested body into a SerializationError."""

    @functools.wraps(parse)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return parse(*args, **kwargs)
        except RecursionError as exc:
            raise SerializationError("The request body is nested too deeply.") from exc

    return guarded
