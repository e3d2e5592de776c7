"""AWS JSON 1.0/1.1: `X-Amz-Target` names the operation, the body is a JSON document."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from sagemill.aws.errors import SerializationError, ServiceError
from sagemill.aws.protocol.base import (
    decode_blob,
    encode_blob,
    find_error_shape,
    format_timestamp,
    guard_depth,
    parse_timestamp,
    request_body,
    timestamp_format,
    wire_error_code,
)
from sagemill.aws.request import AwsRequest, AwsResponse

_ACCEPTED_TYPES = ("application/x-amz-json-1.0", "application/x-amz-json-1.1", "application/json")


def unknown_operation(detail: str) -> ServiceError:
    return ServiceError("UnknownOperationException", detail, 400)


class JsonProtocol:
    """Parser and serializer for the `json` protocol (SageMaker, Logs, CloudWatch JSON 1.0)."""

    name = "json"

    def match_operation(self, request: AwsRequest, service: ServiceModel) -> OperationModel:
        target = request.header("x-amz-target")
        prefix, _, operation = target.rpartition(".")
        if not operation or prefix != service.metadata.get("targetPrefix"):
            raise unknown_operation(f"Unknown X-Amz-Target '{target[:128]}'.")
        if operation not in service.operation_names:
            raise unknown_operation(f"Operation {operation[:128]} is not defined by {service.service_id}.")
        return service.operation_model(operation)

    @guard_depth
    def parse(self, request: AwsRequest, operation: OperationModel) -> dict[str, Any]:
        content_type = request.header("content-type").split(";")[0].strip().lower()
        if content_type not in _ACCEPTED_TYPES:
            shown = content_type or "(none)"
            raise SerializationError(
                f"Unsupported Content-Type '{shown[:64]}'; expected application/x-amz-json-"
                f"{operation.metadata.get('jsonVersion', '1.1')}."
            )
        body = request_body(request, operation)
        if not body.strip():
            return {}
        try:
            # AWS JSON is UTF-8 only; json.loads on bytes would also accept UTF-16/32.
            document = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise SerializationError("The request body is not valid UTF-8.") from exc
        except json.JSONDecodeError as exc:
            raise SerializationError(f"Could not parse the request body as JSON: {exc.msg}.") from exc
        except (ValueError, RecursionError) as exc:
            raise SerializationError("Could not parse the request body as JSON.") from exc
        shape = operation.input_shape
        if shape is None:
            return {}
        if not isinstance(document, dict):
            raise SerializationError("Expected a JSON object at the top level of the request body.")
        parsed = parse_value(shape, document, "")
        assert isinstance(parsed, dict)
        return parsed

    def serialize(self, result: Mapping[str, Any], operation: OperationModel, request_id: str) -> AwsResponse:
        shape = operation.output_shape
        document = dump_value(shape, result) if shape is not None else {}
        return AwsResponse(200, self._headers(operation.service_model, request_id), _dumps(document))

    def serialize_error(
        self,
        error: ServiceError,
        service: ServiceModel,
        operation: OperationModel | None,
        request_id: str,
    ) -> AwsResponse:
        shape = find_error_shape(service, operation, error.code)
        headers = self._headers(service, request_id)
        headers.update(error.headers)
        if service.metadata.get("awsQueryCompatible") is not None:
            fault = "Sender" if error.sender_fault else "Receiver"
            headers["x-amzn-query-error"] = f"{error.query_code or wire_error_code(error, shape)};{fault}"
        body: dict[str, Any] = {"__type": shape.name if shape is not None else error.code}
        body.update(error_fields(shape, error.fields, error.message))
        if "Message" not in body and "message" not in body:
            body["message"] = error.message
        return AwsResponse(error.status, headers, _dumps(body))

    @staticmethod
    def _headers(service: ServiceModel, request_id: str) -> dict[str, str]:
        version = service.metadata.get("jsonVersion", "1.0")
        return {"Content-Type": f"application/x-amz-json-{version}", "x-amzn-RequestId": request_id}


def error_fields(shape: Shape | None, given: Mapping[str, Any], message: str) -> dict[str, Any]:
    """An error's extra members in JSON form: modelled ones through the error shape, others as given.

    The message goes under the shape's own message member (`Message` or `message`) when it has one.
    """
    fields = dict(given)
    if shape is None:
        return fields
    members = shape.members
    for name in ("Message", "message"):
        if name in members and name not in fields and message:
            fields[name] = message
            break
    modelled = {key: value for key, value in fields.items() if key in members}
    out: dict[str, Any] = dump_value(shape, modelled)
    out.update({key: value for key, value in fields.items() if key not in members})
    return out


def _dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _where(path: str) -> str:
    return f" at '{path}'" if path else ""


def parse_value(shape: Shape, value: Any, path: str) -> Any:
    """Check a decoded JSON value against its shape and convert blobs and timestamps."""
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        if shape.metadata.get("document"):
            return value
        if not isinstance(value, dict):
            raise SerializationError(f"Expected an object{_where(path)}.")
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            item = value.get(member.serialization.get("name", name))
            if item is not None:
                out[name] = parse_value(member, item, f"{path}.{name}" if path else name)
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise SerializationError(f"Expected a list{_where(path)}.")
        return [parse_value(shape.member, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise SerializationError(f"Expected a map{_where(path)}.")
        return {
            parse_value(shape.key, k, path): parse_value(shape.value, v, f"{path}.{k}")
            for k, v in value.items()
        }
    return parse_scalar(shape, value, path)


def parse_scalar(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    if kind == "string":
        if not isinstance(value, str):
            raise SerializationError(f"Expected a string{_where(path)}.")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise SerializationError(f"Expected an integer{_where(path)}.")
        return value
    if kind in ("float", "double"):
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SerializationError(f"Expected a number{_where(path)}.")
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise SerializationError(f"Expected a boolean{_where(path)}.")
        return value
    if kind == "timestamp":
        return parse_timestamp(value)
    if kind == "blob":
        return decode_blob(value)
    return value


def dump_value(shape: Shape, value: Any) -> Any:
    """A Python value → its JSON form for the shape; members not in the shape are dropped."""
    if value is None:
        return None  # a null inside a (sparse) list or map
    kind = shape.type_name
    if kind == "structure":
        if shape.metadata.get("document"):
            return value
        members = shape.members
        return {
            members[key].serialization.get("name", key): dump_value(members[key], item)
            for key, item in value.items()
            if key in members and item is not None
        }
    if kind == "list":
        return [dump_value(shape.member, item) for item in value]
    if kind == "map":
        return {str(k): dump_value(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, datetime):
            return format_timestamp(value, timestamp_format(shape, "unixTimestamp"))
        return value
    if kind == "blob":
        return encode_blob(value)
    if kind in ("float", "double") and isinstance(value, float) and value != value:
        return "NaN"
    if kind in ("float", "double") and value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value
