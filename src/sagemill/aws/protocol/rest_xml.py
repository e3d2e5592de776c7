"""REST-XML (S3 mainly): operations routed by method and path; XML or raw payload bodies; S3-style errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from sagemill.aws.errors import SerializationError, ServiceError
from sagemill.aws.protocol import s3_wire
from sagemill.aws.protocol.base import (
    find_error_shape,
    format_scalar,
    guard_depth,
    request_body,
    wire_error_code,
)
from sagemill.aws.protocol.rest import (
    body_member_names,
    drop_content_coding,
    has_header,
    parse_bound_members,
    serialize_bound_members,
)
from sagemill.aws.protocol.rest_routes import match_rest_operation
from sagemill.aws.protocol.xml_codec import (
    add_namespace,
    parse_document,
    read_structure,
    read_value,
    to_bytes,
    write_members,
    write_value,
)
from sagemill.aws.request import AwsRequest, AwsResponse, BodyReader

XML_TYPE = "application/xml"


class RestXmlProtocol:
    """Parser and serializer for the `rest-xml` protocol."""

    name = "rest-xml"

    def match_operation(self, request: AwsRequest, service: ServiceModel) -> OperationModel:
        return match_rest_operation(request, service)

    @guard_depth
    def parse(self, request: AwsRequest, operation: OperationModel) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        params = parse_bound_members(request, operation, shape)
        payload = shape.serialization.get("payload")
        if request.stream is not None and payload and shape.members[payload].serialization.get("streaming"):
            params[payload] = _streamed_payload(request, params, shape)
            return params
        body = request_body(request, operation)
        if body is not request.body:
            drop_content_coding(params, shape, "gzip")
        if s3_wire.is_aws_chunked(request.headers):
            body, trailers = s3_wire.decode_chunked_request(body, request.headers)
            s3_wire.apply_trailers(params, shape, trailers)
        if payload:
            value = _read_payload(shape.members[payload], body, str(payload))
            if value is not None:
                params[payload] = value
        elif body.strip() and body_member_names(shape):
            params.update(read_structure(shape, parse_document(body)))
        return params

    def serialize(self, result: Mapping[str, Any], operation: OperationModel, request_id: str) -> AwsResponse:
        service = operation.service_model
        headers = _id_headers(service, request_id)
        status = int(operation.http.get("responseCode", 200))
        shape = operation.output_shape
        if shape is None:
            return AwsResponse(status, headers)
        override, bound = serialize_bound_members(shape, result)
        headers.update(bound)
        if s3_wire.is_s3(service):
            status = s3_wire.success_status(operation, result, status)
        body, content_type = _write_body(operation, shape, result)
        if content_type and not has_header(headers, "Content-Type"):
            headers["Content-Type"] = content_type
        if isinstance(body, bytes):
            return AwsResponse(override or status, headers, body)
        return AwsResponse(override or status, headers, stream=body)

    def serialize_error(
        self,
        error: ServiceError,
        service: ServiceModel,
        operation: OperationModel | None,
        request_id: str,
    ) -> AwsResponse:
        shape = find_error_shape(service, operation, error.code)
        headers = _id_headers(service, request_id)
        if shape is not None:
            headers.update(serialize_bound_members(shape, error.fields)[1])
        headers.update(error.headers)
        # HEAD answers and 304 Not Modified never carry a body (RFC 9110 §9.3.2, §15.4.5).
        if error.status == 304 or (
            operation is not None and str(operation.http.get("method", "")).upper() == "HEAD"
        ):
            return AwsResponse(error.status, headers)
        headers["Content-Type"] = XML_TYPE
        if s3_wire.is_s3(service):
            root = detail = ET.Element("Error")
        else:
            root = ET.Element("ErrorResponse")
            _service_namespace(root, service)
            detail = ET.SubElement(root, "Error")
            ET.SubElement(detail, "Type").text = "Sender" if error.sender_fault else "Receiver"
        code = wire_error_code(error, shape)
        if s3_wire.is_s3(service) and code == "ValidationException":
            code = "InvalidArgument"  # S3 has no ValidationException; it calls a bad value this
        ET.SubElement(detail, "Code").text = code
        ET.SubElement(detail, "Message").text = error.message
        _write_error_fields(detail, shape, error.fields)
        ET.SubElement(root, "RequestId").text = request_id
        if s3_wire.is_s3(service):
            ET.SubElement(root, "HostId").text = headers.get("x-amz-id-2", "")
        return AwsResponse(error.status, headers, to_bytes(root))


def _streamed_payload(request: AwsRequest, params: dict[str, Any], shape: Shape) -> BodyReader:
    """The body as a reader; `aws-chunked` framing is decoded as it streams (trailers arrive at the end)."""
    assert request.stream is not None
    if not s3_wire.is_aws_chunked(request.headers):
        return request.stream
    drop_content_coding(params, shape, "aws-chunked")
    declared = request.header("x-amz-decoded-content-length").strip()
    announced = tuple(
        name.strip().lower() for name in request.header("x-amz-trailer").split(",") if name.strip()
    )
    return s3_wire.AwsChunkedReader(request.stream, int(declared) if declared.isdigit() else None, announced)


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
    return read_value(member, parse_document(body), name)


def _write_body(
    operation: OperationModel, shape: Shape, result: Mapping[str, Any]
) -> tuple[bytes | Iterator[bytes], str | None]:
    service = operation.service_model
    payload = shape.serialization.get("payload")
    if payload:
        member = shape.members[payload]
        value = result.get(payload)
        if value is None:
            return b"", None
        if member.serialization.get("eventstream"):
            return bytes(value), "application/vnd.amazon.eventstream"
        if member.serialization.get("streaming") and isinstance(value, Iterator):
            return value, "application/octet-stream"
        if member.type_name in ("blob", "string"):
            raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            return raw, "text/plain" if member.type_name == "string" else "application/octet-stream"
        holder = ET.Element("holder")
        write_value(holder, member, value, str(member.serialization.get("name", payload)))
        root = holder[0]
    else:
        if not body_member_names(shape, response=True):
            return b"", None
        if s3_wire.is_s3(service) and operation.name == "GetBucketLocation":
            root = ET.Element("LocationConstraint")
            constraint = result.get("LocationConstraint")
            root.text = (
                format_scalar(shape.members["LocationConstraint"], constraint, "iso8601")
                if constraint
                else None
            )
        else:
            root = ET.Element(s3_wire.root_element(operation, shape))
            add_namespace(shape, root)
            write_members(root, shape, result)
    if "xmlns" not in root.attrib:
        _service_namespace(root, service)
    return to_bytes(root), XML_TYPE


def _write_error_fields(detail: ET.Element, shape: Shape | None, fields: Mapping[str, Any]) -> None:
    reserved = frozenset({"Type", "Code", "Message", "RequestId", "HostId"})
    if shape is not None:
        write_members(detail, shape, fields, skip=reserved)
    members = shape.members if shape is not None else {}
    for key, value in fields.items():
        if (
            key not in members
            and key not in reserved
            and value is not None
            and not isinstance(value, dict | list)
        ):
            ET.SubElement(detail, key).text = str(value)


def _service_namespace(root: ET.Element, service: ServiceModel) -> None:
    namespace = service.metadata.get("xmlNamespace") or (
        s3_wire.S3_NAMESPACE if s3_wire.is_s3(service) else None
    )
    if namespace:
        root.set("xmlns", str(namespace if isinstance(namespace, str) else namespace.get("uri", "")))


def _id_headers(service: ServiceModel, request_id: str) -> dict[str, str]:
    if s3_wire.is_s3(service):
        return s3_wire.request_id_headers(request_id)
    return {"x-amzn-RequestId": request_id}
