"""AWS query protocol (STS, IAM, SNS, CloudWatch legacy): form-encoded `Action` requests, XML responses."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, ServiceModel

from sagemill.aws.errors import SerializationError, ServiceError
from sagemill.aws.protocol.base import find_error_shape, guard_depth, gunzip, is_gzipped, wire_error_code
from sagemill.aws.protocol.query_form import build_tree, decode_structure
from sagemill.aws.protocol.xml_codec import to_bytes, write_members
from sagemill.aws.request import AwsRequest, AwsResponse

_FORM = "application/x-www-form-urlencoded"
_MAX_FIELDS = 10_000


def form_pairs(request: AwsRequest) -> list[tuple[str, str]]:
    """The query string's pairs followed by the form body's (gunzipped if the client compressed it)."""
    body = gunzip(request.body) if is_gzipped(request) else request.body
    try:
        pairs = parse_qsl(request.query, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
        content_type = request.header("content-type").split(";")[0].strip().lower()
        if body and content_type in (_FORM, ""):
            text = body.decode("utf-8")
            pairs += parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
        elif body.strip():
            raise SerializationError(f"Unsupported Content-Type '{content_type[:64]}'; expected {_FORM}.")
    except UnicodeDecodeError as exc:
        raise SerializationError("The request body is not valid UTF-8.") from exc
    except ValueError as exc:
        raise SerializationError("Too many parameters in the request.") from exc
    return pairs


class QueryProtocol:
    """Parser and serializer for the `query` protocol."""

    name = "query"

    def match_operation(self, request: AwsRequest, service: ServiceModel) -> OperationModel:
        action = next((value for key, value in form_pairs(request) if key == "Action"), "")
        if not action:
            raise ServiceError("MissingAction", "The request must contain the parameter Action.", 400)
        if action not in service.operation_names:
            raise ServiceError(
                "InvalidAction", f"The action {action[:128]} is not valid for this web service.", 400
            )
        return service.operation_model(action)

    @guard_depth
    def parse(self, request: AwsRequest, operation: OperationModel) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        return decode_structure(shape, build_tree(form_pairs(request)), "")

    def serialize(self, result: Mapping[str, Any], operation: OperationModel, request_id: str) -> AwsResponse:
        root = ET.Element(f"{operation.name}Response")
        _namespace(root, operation.service_model)
        shape = operation.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper")
            container = ET.SubElement(root, str(wrapper)) if wrapper else root
            write_members(container, shape, result)
        metadata = ET.SubElement(root, "ResponseMetadata")
        ET.SubElement(metadata, "RequestId").text = request_id
        return AwsResponse(200, _headers(request_id), to_bytes(root))

    def serialize_error(
        self,
        error: ServiceError,
        service: ServiceModel,
        operation: OperationModel | None,
        request_id: str,
    ) -> AwsResponse:
        shape = find_error_shape(service, operation, error.code)
        root = ET.Element("ErrorResponse")
        _namespace(root, service)
        detail = ET.SubElement(root, "Error")
        ET.SubElement(detail, "Type").text = "Sender" if error.sender_fault else "Receiver"
        ET.SubElement(detail, "Code").text = error.query_code or wire_error_code(error, shape)
        ET.SubElement(detail, "Message").text = error.message
        if shape is not None:
            write_members(detail, shape, error.fields, skip=frozenset({"Type", "Code", "Message"}))
        ET.SubElement(root, "RequestId").text = request_id
        headers = _headers(request_id)
        headers.update(error.headers)
        return AwsResponse(error.status, headers, to_bytes(root))


def _namespace(root: ET.Element, service: ServiceModel) -> None:
    namespace = service.metadata.get("xmlNamespace")
    if namespace:
        root.set("xmlns", str(namespace))


def _headers(request_id: str) -> dict[str, str]:
    return {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
