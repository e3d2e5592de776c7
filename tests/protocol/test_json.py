"""AWS JSON on real models: query-compatible errors (CloudWatch), gzip compression, modelled errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.config import Config

from sagemill.aws.errors import SerializationError, ServiceError
from sagemill.aws.protocol.json import JsonProtocol
from sagemill.aws.request import AwsRequest
from sagemill.aws.specs import service_model


def test_cloudwatch_query_compatible_error_keeps_legacy_code(bridge: Any) -> None:
    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        raise ServiceError("ResourceNotFound", "Dashboard does not exist", 404)

    wire = bridge("cloudwatch", handler)
    with pytest.raises(wire.client.exceptions.ResourceNotFound) as caught:  # botocore's class for that code
        wire.client.get_dashboard(DashboardName="d")
    error = caught.value.response["Error"]
    assert (error["Code"], error["QueryErrorCode"], error["Type"]) == (
        "ResourceNotFound",
        "DashboardNotFoundError",
        "Sender",
    )
    assert wire.last.response.headers["x-amzn-query-error"] == "ResourceNotFound;Sender"
    assert json.loads(wire.last.response.body)["__type"] == "DashboardNotFoundError"


def test_cloudwatch_gzipped_put_metric_data(bridge: Any) -> None:
    stamp = datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=UTC)
    metric = {"MetricName": "Invocations", "Timestamp": stamp, "Value": 1.0, "Unit": "Count"}
    wire = bridge("cloudwatch", lambda op, params: {}, config=Config(request_min_compression_size_bytes=1))
    wire.client.put_metric_data(Namespace="AWS/SageMaker", MetricData=[metric])
    assert wire.last.request.headers.get("content-encoding") == "gzip"
    assert wire.last.params == {"Namespace": "AWS/SageMaker", "MetricData": [metric]}


def test_gzip_is_left_alone_where_the_model_has_no_request_compression() -> None:
    """Content-Encoding on an operation without the trait is not ours to undo."""
    request = AwsRequest(
        "POST",
        "/",
        "",
        {
            "content-type": "application/x-amz-json-1.1",
            "x-amz-target": "SageMaker.ListModels",
            "content-encoding": "gzip",
        },
        b"{}",
    )
    protocol = JsonProtocol()
    operation = protocol.match_operation(request, service_model("sagemaker"))
    assert protocol.parse(request, operation) == {}
    headers = dict(request.headers)
    headers.update({"x-amz-target": "GraniteServiceVersion20100801.PutMetricData"})
    request = AwsRequest("POST", "/", "", headers, b"not gzip")
    operation = protocol.match_operation(request, service_model("cloudwatch"))
    with pytest.raises(SerializationError):
        protocol.parse(request, operation)


def test_sagemaker_modelled_error_fields(bridge: Any) -> None:
    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        raise ServiceError("ResourceLimitExceeded", "Too many endpoints.", 400)

    wire = bridge("sagemaker", handler)
    with pytest.raises(wire.client.exceptions.ResourceLimitExceeded) as caught:
        wire.client.create_endpoint(EndpointName="e", EndpointConfigName="c")
    assert caught.value.response["Error"]["Message"] == "Too many endpoints."
    assert caught.value.response["Message"] == "Too many endpoints."
