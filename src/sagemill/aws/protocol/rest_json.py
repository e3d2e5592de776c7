"""REST-JSON (sagemaker-runtime, polly): operations routed by method and path; JSON or raw payload bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from sagemill.aws.errors import SerializationError, ServiceError
from sagemill.aws.protocol.base import find_error_shape, guard_depth, request_body, wire_error_code
from sagemill.aws.protocol.json import dump_value, error_fields, parse_value
from sagemill.aws.protocol.rest import (
    body_member_names,
    drop_content_coding,
    has_header,
    location,
    parse_bound_members,
    serialize_bound_members,
)
from sagemill.aws.protocol.rest_routes import match_rest_operation
from sagemill.aws.request import AwsRequest, AwsResponse

JSON_TYPE = "application/json"
EVENT_STREAM_TYPE = "application/vnd.amazon.eventstream"


class RestJsonProtocol:
    """Parser and serializer for the `rest-json` protocol."""

    name = "rest-json"

    def match_operation(self, request: AwsRequest, service: ServiceModel) -> OperationModel:
        return match_rest_operation(request, service)

    @guard_depth
    def parse(self, request: AwsRequest, operation: OperationModel) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        params = parse_bound_members(request, operation, shape)
        body = request_body(request, operation)
        if body is not request.body:
            drop_content_coding(params, shape, "gzip")
        payload = shape.serialization.get("payload")
        if payload:
            value = _read_payload(shape.members[payload], body, str(payload))
            if value is not None:
                params[payload] = value
        elif body.strip():
            names = body_member_names(shape)
            if names:
                document = load_json(body)
                if not isinstance(document, dict):
                    raise SerializationError("Expected a JSON object at the top level of the request body.")
                parsed = parse_value(shape, document, "")
                params.update((name, parsed[name]) for name in names if name in parsed)
        return params

    def serialize(self, result: Mapping[str, Any], operation: OperationModel, request_id: str) -> AwsResponse:
        headers = {"x-amzn-RequestId": request_id}
        status = int(operation.http.get("responseCode", 200))
        shape = operation.output_shape
        if shape is None:
            return AwsResponse(status, headers)
        override, bound = serialize_bound_members(shape, result)
        headers.update(bound)
        body, content_type = _write_body(shape, result)
        if content_type and not has_header(headers, "Content-Type"):
            headers["Content-Type"] = content_type
        return AwsResponse(override or status, headers, body)

    def serialize_error(
        self,
        error: ServiceError,
        service: ServiceModel,
        operation: OperationModel | None,
        request_id: str,
    ) -> AwsResponse:
        shape = find_error_shape(service, operation, error.code)
        code = wire_error_code(error, shape)
        headers = {"x-amzn-RequestId": request_id, "X-Amzn-ErrorType": code, "Content-Type": JSON_TYPE}
        fields = dict(error.fields)
        if shape is not None:
            _, bound = serialize_bound_members(shape, fields)
            headers.update(bound)
            fields = {
                k: v for k, v in fields.items() if k not in shape.members or not location(shape.members[k])
            }
        headers.update(error.headers)
        body: dict[str, Any] = {"__type": code}
        body.update(error_fields(shape, fields, error.message))
        if "Message" not in body and "message" not in body:
            body["message"] = error.message
        return AwsResponse(error.status, headers, dumps(body))


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise SerializationError("The request body is not valid UTF-8.") from exc
    except json.JSONDecodeError as exc:
        raise SerializationError(f"Could not parse the request body as JSON: {exc.msg}.") from exc
    except (ValueError, RecursionError) as exc:
        raise SerializationError("Could not parse the request body as JSON.") from exc


def dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _read_payload(member: Shape, body: bytes, name: str) -> Any:
    if member.type_name == "blob":
        return body or None
    if member.type_name == "string":
        try:
            return body.decode("utf-8") if body else None
        except UnicodeDecodeError as exc:
            raise SerializationError("The request body is not valid UTF-8.") from exc
    if not body.strip():
        return None
    document = load_json(body)
    if document == {} and member.type_name == "structure" and not member.is_document_type:
        return None  # botocore sends `{}` for an unset structure payload
    return parse_value(member, document, name)


def _write_body(shape: Shape, result: Mapping[str, Any]) -> tuple[bytes, str | None]:
    payload = shape.serialization.get("payload")
    if payload:
        member = shape.members[payload]
        value = result.get(payload)
        if member.serialization.get("eventstream"):
            return (bytes(value) if value is not None else b""), EVENT_STREAM_TYPE
        if member.type_name in ("blob", "string"):
            if value is None:
                return b"", None
            raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            return raw, "text/plain" if member.type_name == "string" else "application/octet-stream"
        if value is None:
            return b"", None
        return dumps(dump_value(member, value)), JSON_TYPE
    names = body_member_names(shape, response=True)
    if not names:
        return b"", None
    members = {name: result[name] for name in names if result.get(name) is not None}
    return dumps(dump_value(shape, members)), JSON_TYPE
