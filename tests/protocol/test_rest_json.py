"""REST-JSON on real models: boto3 clients (sagemaker-runtime, polly, feature store) against our protocol."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sagemill.aws.errors import SerializationError, ServiceError
from sagemill.aws.protocol.rest_json import RestJsonProtocol
from sagemill.aws.request import AwsRequest
from sagemill.aws.specs import service_model


def test_invoke_endpoint_round_trip(bridge: Any) -> None:
    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        assert operation == "InvokeEndpoint"
        return {
            "Body": b"0.25\n" + params["Body"],
            "ContentType": "text/csv",
            "InvokedProductionVariant": "AllTraffic",
            "CustomAttributes": "seen=" + params["CustomAttributes"],
        }

    wire = bridge("sagemaker-runtime", handler)
    reply = wire.client.invoke_endpoint(
        EndpointName="my ep/β",
        Body=b"1.0,2.0\n",
        ContentType="text/csv",
        Accept="text/csv",
        CustomAttributes="c=1",
        TargetVariant="blue",
    )
    assert wire.last.params == {
        "EndpointName": "my ep/β",
        "Body": b"1.0,2.0\n",
        "ContentType": "text/csv",
        "Accept": "text/csv",
        "CustomAttributes": "c=1",
        "TargetVariant": "blue",
    }
    assert reply["Body"].read() == b"0.25\n1.0,2.0\n"
    assert reply["ContentType"] == "text/csv"
    assert reply["InvokedProductionVariant"] == "AllTraffic"
    assert reply["CustomAttributes"] == "seen=c=1"
    assert reply["ResponseMetadata"]["RequestId"] == wire.last.response.headers["x-amzn-RequestId"]


def test_model_error_reaches_boto3_with_its_members(bridge: Any) -> None:
    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        raise ServiceError(
            "ModelError",
            'Received client error (400) from primary with message "bad input".',
            424,
            fields={
                "OriginalStatusCode": 400,
                "OriginalMessage": "bad input",
                "LogStreamArn": "arn:aws:logs:x",
            },
        )

    wire = bridge("sagemaker-runtime", handler)
    with pytest.raises(wire.client.exceptions.ModelError) as caught:
        wire.client.invoke_endpoint(EndpointName="ep", Body=b"x")
    response = caught.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["Error"]["Message"].startswith("Received client error (400)")
    assert response["OriginalStatusCode"] == 400
    assert response["OriginalMessage"] == "bad input"
    assert response["LogStreamArn"] == "arn:aws:logs:x"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert wire.last.response.headers["X-Amzn-ErrorType"] == "ModelError"


def test_unmodelled_validation_error_is_a_client_error(bridge: Any) -> None:
    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        raise ServiceError("ValidationError", "Endpoint ep of account 123 not found.", 400)

    wire = bridge("sagemaker-runtime", handler)
    with pytest.raises(wire.client.exceptions.ValidationError) as caught:
        wire.client.invoke_endpoint(EndpointName="ep", Body=b"x")
    assert caught.value.response["Error"]["Message"] == "Endpoint ep of account 123 not found."


def test_polly_synthesize_speech_streams_audio(bridge: Any) -> None:
    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        assert params == {
            "Text": "Hello",
            "OutputFormat": "mp3",
            "VoiceId": "Joanna",
            "SpeechMarkTypes": ["word"],
        }
        return {"AudioStream": b"ID3\x00audio", "ContentType": "audio/mpeg", "RequestCharacters": 5}

    wire = bridge("polly", handler)
    reply = wire.client.synthesize_speech(
        Text="Hello", OutputFormat="mp3", VoiceId="Joanna", SpeechMarkTypes=["word"]
    )
    assert wire.last.request.path == "/v1/speech"
    assert reply["AudioStream"].read() == b"ID3\x00audio"
    assert reply["ContentType"] == "audio/mpeg"
    assert reply["RequestCharacters"] == 5


def test_polly_describe_voices_query_and_json_body(bridge: Any) -> None:
    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        assert operation == "DescribeVoices"
        assert params == {"Engine": "neural", "LanguageCode": "en-US", "IncludeAdditionalLanguageCodes": True}
        return {
            "Voices": [{"Id": "Joanna", "Gender": "Female", "SupportedEngines": ["neural"]}],
            "NextToken": "t",
        }

    wire = bridge("polly", handler)
    reply = wire.client.describe_voices(
        Engine="neural", LanguageCode="en-US", IncludeAdditionalLanguageCodes=True
    )
    assert reply["Voices"] == [{"Id": "Joanna", "Gender": "Female", "SupportedEngines": ["neural"]}]
    assert reply["NextToken"] == "t"


def test_feature_store_get_record_labels_and_repeated_query(bridge: Any) -> None:
    def handler(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        assert params == {
            "FeatureGroupName": "fg 1",
            "RecordIdentifierValueAsString": "id/7",
            "FeatureNames": ["a", "b"],
        }
        return {"Record": [{"FeatureName": "a", "ValueAsString": "1"}]}

    wire = bridge("sagemaker-featurestore-runtime", handler)
    reply = wire.client.get_record(
        FeatureGroupName="fg 1", RecordIdentifierValueAsString="id/7", FeatureNames=["a", "b"]
    )
    assert wire.last.operation == "GetRecord"
    assert reply["Record"] == [{"FeatureName": "a", "ValueAsString": "1"}]


def test_unknown_path_and_wrong_method() -> None:
    protocol = RestJsonProtocol()
    model = service_model("sagemaker-runtime")
    with pytest.raises(ServiceError) as caught:
        protocol.match_operation(AwsRequest("POST", "/nothing/here", "", {}, b""), model)
    assert (caught.value.code, caught.value.status) == ("UnknownOperationException", 404)
    with pytest.raises(ServiceError) as caught:
        protocol.match_operation(AwsRequest("DELETE", "/endpoints/ep/invocations", "", {}, b""), model)
    assert caught.value.status == 405


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b"\xff\xfe", b'{"Text": 5}', b"[" * 100_000])
def test_undecodable_bodies_are_serialization_errors(body: bytes) -> None:
    protocol = RestJsonProtocol()
    model = service_model("polly")
    request = AwsRequest("POST", "/v1/speech", "", {"content-type": "application/json"}, body)
    operation = protocol.match_operation(request, model)
    with pytest.raises(SerializationError):
        protocol.parse(request, operation)


def test_jsonvalue_headers_and_timestamps_in_headers() -> None:
    """sagemaker-runtime has none, so a small model: jsonvalue header in, jsonvalue + rfc822 header out."""
    from botocore.model import ServiceModel

    model = ServiceModel(
        {
            "metadata": {"protocol": "rest-json", "apiVersion": "2020-01-01"},
            "operations": {
                "Op": {
                    "name": "Op",
                    "http": {"method": "POST", "requestUri": "/op/{Name}"},
                    "input": {"shape": "In"},
                    "output": {"shape": "Out"},
                }
            },
            "shapes": {
                "In": {
                    "type": "structure",
                    "required": ["Name"],
                    "members": {
                        "Name": {"shape": "S", "location": "uri", "locationName": "Name"},
                        "Attrs": {"shape": "J", "location": "header", "locationName": "x-attrs"},
                    },
                },
                "Out": {
                    "type": "structure",
                    "members": {
                        "Attrs": {"shape": "J", "location": "header", "locationName": "x-attrs"},
                        "When": {"shape": "T", "location": "header", "locationName": "x-when"},
                    },
                },
                "S": {"type": "string"},
                "J": {"type": "string", "jsonvalue": True},
                "T": {"type": "timestamp"},
            },
        }
    )
    protocol = RestJsonProtocol()
    header = "eyJhIjpbMSwyXX0="  # {"a":[1,2]}
    request = AwsRequest("POST", "/op/n%2F1", "", {"x-attrs": header}, b"")
    operation = protocol.match_operation(request, model)
    assert protocol.parse(request, operation) == {"Name": "n/1", "Attrs": {"a": [1, 2]}}
    from datetime import UTC, datetime

    response = protocol.serialize(
        {"Attrs": {"a": [1, 2]}, "When": datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)}, operation, "r"
    )
    assert response.headers["x-attrs"] == header
    assert response.headers["x-when"] == "Thu, 02 Jan 2020 03:04:05 GMT"
    assert json.loads(response.body or b"{}") == {}
