"""Query protocol on real models: boto3 STS/IAM/SNS clients, and CloudWatch as botocore < 1.42.7 sent it."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from sagemill.aws.errors import SerializationError, ServiceError
from sagemill.aws.protocol.query import QueryProtocol
from sagemill.aws.request import AwsRequest
from sagemill.aws.specs import service_model
from sagemill.testing.protocol_vectors import to_aws_request

EXPIRY = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_sts_get_caller_identity(bridge: Any) -> None:
    wire = bridge(
        "sts", lambda op, params: {"UserId": "AIDA1", "Account": "123456789012", "Arn": "arn:aws:iam::1:u"}
    )
    reply = wire.client.get_caller_identity()
    assert wire.last.operation == "GetCallerIdentity"
    assert reply["Account"] == "123456789012"
    assert reply["Arn"] == "arn:aws:iam::1:u"
    assert reply["ResponseMetadata"]["RequestId"] == wire.last.response.headers["x-amzn-RequestId"]
    body = wire.last.response.body
    assert b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">' in body
    assert b"<GetCallerIdentityResult>" in body


def test_sts_assume_role_lists_of_structures_and_timestamps(bridge: Any) -> None:
    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        assert params == {
            "RoleArn": "arn:aws:iam::1:role/r",
            "RoleSessionName": "ses",
            "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/A"}, {"arn": "arn:aws:iam::aws:policy/B"}],
            "Tags": [{"Key": "team", "Value": "ml & data"}],
            "TransitiveTagKeys": [],
            "DurationSeconds": 900,
        }
        return {
            "Credentials": {
                "AccessKeyId": "ASIA1",
                "SecretAccessKey": "secret",
                "SessionToken": "token",
                "Expiration": EXPIRY,
            },
            "AssumedRoleUser": {"AssumedRoleId": "AROA1:s", "Arn": "arn:aws:sts::1:assumed-role/r/s"},
            "PackedPolicySize": 6,
        }

    wire = bridge("sts", handler)
    reply = wire.client.assume_role(
        RoleArn="arn:aws:iam::1:role/r",
        RoleSessionName="ses",
        PolicyArns=[{"arn": "arn:aws:iam::aws:policy/A"}, {"arn": "arn:aws:iam::aws:policy/B"}],
        Tags=[{"Key": "team", "Value": "ml & data"}],
        TransitiveTagKeys=[],
        DurationSeconds=900,
    )
    assert reply["Credentials"]["Expiration"] == EXPIRY
    assert reply["AssumedRoleUser"]["Arn"] == "arn:aws:sts::1:assumed-role/r/s"
    assert reply["PackedPolicySize"] == 6


def test_sts_unmodelled_auth_error(bridge: Any) -> None:
    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        raise ServiceError(
            "InvalidClientTokenId", "The security token included in the request is invalid.", 403
        )

    wire = bridge("sts", handler)
    with pytest.raises(wire.client.exceptions.ClientError) as caught:
        wire.client.get_caller_identity()
    error = caught.value.response["Error"]
    assert (error["Code"], error["Type"]) == ("InvalidClientTokenId", "Sender")
    assert error["Message"] == "The security token included in the request is invalid."
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("raised", ["NoSuchEntity", "NoSuchEntityException"])
def test_iam_modelled_error_by_code_or_shape_name(bridge: Any, raised: str) -> None:
    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        raise ServiceError(raised, "The role with name r cannot be found.", 404)

    wire = bridge("iam", handler)
    with pytest.raises(wire.client.exceptions.NoSuchEntityException) as caught:
        wire.client.get_role(RoleName="r")
    assert caught.value.response["Error"]["Code"] == "NoSuchEntity"


def test_sns_maps_in_and_out(bridge: Any) -> None:
    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation == "Publish":
            assert params["MessageAttributes"] == {
                "color": {"DataType": "String", "StringValue": "blue"},
                "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
            }
            return {"MessageId": "m-1"}
        return {"Attributes": {"DisplayName": "Topic", "Policy": '{"a": 1}'}}

    wire = bridge("sns", handler)
    reply = wire.client.publish(
        TopicArn="arn:aws:sns:us-east-1:1:t",
        Message="hello",
        MessageAttributes={
            "color": {"DataType": "String", "StringValue": "blue"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    assert reply["MessageId"] == "m-1"
    attributes = wire.client.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:1:t")["Attributes"]
    assert attributes == {"DisplayName": "Topic", "Policy": '{"a": 1}'}


def _cloudwatch_query_call(
    params: dict[str, Any], operation_name: str, gzip_body: bool = False
) -> AwsRequest:
    model = service_model("cloudwatch")
    serializer = create_serializer("query", include_validation=False)
    request = to_aws_request(serializer.serialize_to_request(params, model.operation_model(operation_name)))
    if gzip_body:
        headers = dict(request.headers, **{"content-encoding": "gzip"})
        request = AwsRequest(
            request.method, request.path, request.query, headers, gzip.compress(request.body)
        )
    return request


@pytest.mark.parametrize("compressed", [False, True])
def test_cloudwatch_query_put_metric_data(compressed: bool) -> None:
    params = {
        "Namespace": "/aws/sagemaker/Endpoints",
        "MetricData": [
            {
                "MetricName": "ModelLatency",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": "ep"},
                    {"Name": "VariantName", "Value": "v"},
                ],
                "Timestamp": datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=UTC),
                "StatisticValues": {"SampleCount": 2.0, "Sum": 3.5, "Minimum": 1.0, "Maximum": 2.5},
                "Unit": "Microseconds",
            }
        ],
    }
    protocol = QueryProtocol()
    request = _cloudwatch_query_call(params, "PutMetricData", gzip_body=compressed)
    operation = protocol.match_operation(request, service_model("cloudwatch"))
    assert operation.name == "PutMetricData"
    assert protocol.parse(request, operation) == params


def test_cloudwatch_query_response_and_error_read_by_botocore() -> None:
    model = service_model("cloudwatch")
    operation = model.operation_model("GetMetricStatistics")
    result = {
        "Label": "CPU",
        "Datapoints": [
            {"Timestamp": EXPIRY, "Average": 1.5, "Unit": "Percent", "ExtendedStatistics": {"p99": 9.0}}
        ],
    }
    response = QueryProtocol().serialize(result, operation, "req-1")
    parser = create_parser("query")
    raw = {"status_code": response.status, "headers": HeadersDict(response.headers), "body": response.body}
    parsed = parser.parse(raw, operation.output_shape)
    assert parsed["Label"] == "CPU"
    assert parsed["Datapoints"] == result["Datapoints"]
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"

    error = ServiceError("ResourceNotFound", "Dashboard x does not exist", 404)
    response = QueryProtocol().serialize_error(error, model, model.operation_model("GetDashboard"), "req-2")
    raw = {"status_code": response.status, "headers": HeadersDict(response.headers), "body": response.body}
    parsed = parser.parse(raw, model.operation_model("GetDashboard").output_shape)
    assert parsed["Error"] == {
        "Type": "Sender",
        "Code": "ResourceNotFound",
        "Message": "Dashboard x does not exist",
    }


def test_unknown_and_missing_action() -> None:
    protocol = QueryProtocol()
    model = service_model("sts")
    form = {"content-type": "application/x-www-form-urlencoded"}
    with pytest.raises(ServiceError) as caught:
        protocol.match_operation(AwsRequest("POST", "/", "", form, b"Action=Nope&Version=2011-06-15"), model)
    assert (caught.value.code, caught.value.status) == ("InvalidAction", 400)
    with pytest.raises(ServiceError) as caught:
        protocol.match_operation(AwsRequest("POST", "/", "", form, b"Version=2011-06-15"), model)
    assert caught.value.code == "MissingAction"
    get = AwsRequest("GET", "/", "Action=GetCallerIdentity&Version=2011-06-15", {}, b"")
    assert protocol.match_operation(get, model).name == "GetCallerIdentity"


@pytest.mark.parametrize(
    ("fields", "decodable"),
    [
        ({"DurationSeconds": "many"}, False),
        ({"DurationSeconds": "9" * 5000}, False),
        ({"PolicyArns.member.x": "ignored", "Tags.member.1": "stray", "Tags.member.1.Key": "k"}, True),
        ({"Tags.member.1.Key.deeper": "x"}, False),
    ],
)
def test_bad_values_are_serialization_errors(fields: dict[str, str], decodable: bool) -> None:
    protocol = QueryProtocol()
    model = service_model("sts")
    body = urlencode(
        {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": "r", "RoleSessionName": "s", **fields}
    )
    request = AwsRequest(
        "POST", "/", "", {"content-type": "application/x-www-form-urlencoded"}, body.encode()
    )
    operation = protocol.match_operation(request, model)
    if decodable:
        assert protocol.parse(request, operation)["Tags"] == [{"Key": "k"}]
    else:
        with pytest.raises(SerializationError):
            protocol.parse(request, operation)


def test_non_utf8_and_foreign_content_types() -> None:
    protocol = QueryProtocol()
    model = service_model("sts")
    with pytest.raises(SerializationError):
        protocol.match_operation(AwsRequest("POST", "/", "", {}, b"Action=\xff\xfe"), model)
    with pytest.raises(SerializationError):
        protocol.match_operation(
            AwsRequest("POST", "/", "", {"content-type": "application/json"}, b"{}"), model
        )
