"""REST-XML on the real S3 model: a boto3 S3 client (path-style, as for custom endpoints) against us."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sagemill.aws.errors import SerializationError, ServiceError
from sagemill.aws.protocol.rest_xml import RestXmlProtocol
from sagemill.aws.protocol.s3_wire import decode_aws_chunked
from sagemill.aws.request import AwsRequest
from sagemill.aws.specs import service_model

MODIFIED = datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)
KEY = "dir/sub dir/naïve+file%20.txt"


def _recording(results: dict[str, Any]) -> Any:
    def handler(operation: str, params: dict[str, Any]) -> Any:
        outcome = results.get(operation, {})
        if isinstance(outcome, ServiceError):
            raise outcome
        return outcome(params) if callable(outcome) else outcome

    return handler


def test_put_object_over_http(bridge: Any) -> None:
    wire = bridge("s3", _recording({"PutObject": {"ETag": '"abc"', "VersionId": "v1"}}))
    reply = wire.client.put_object(
        Bucket="bucket", Key=KEY, Body=b"hello world", ContentType="text/plain", Metadata={"owner": "me"}
    )
    assert wire.last.operation == "PutObject"
    params = wire.last.params
    assert (params["Bucket"], params["Key"], params["Body"]) == ("bucket", KEY, b"hello world")
    assert params["ContentType"] == "text/plain"
    assert params["Metadata"] == {"owner": "me"}
    assert "ChecksumCRC32" in params or "ContentMD5" in params
    assert (reply["ETag"], reply["VersionId"]) == ('"abc"', "v1")
    assert reply["ResponseMetadata"]["RequestId"] == wire.last.response.headers["x-amz-request-id"]
    assert reply["ResponseMetadata"]["HostId"]


def test_put_object_over_https_is_aws_chunked_and_decoded(bridge: Any) -> None:
    wire = bridge("s3", _recording({"PutObject": {"ETag": '"abc"'}}), endpoint_url="https://localhost:4566")
    wire.client.put_object(Bucket="bucket", Key="k", Body=b"x" * 70_000, ContentEncoding="gzip")
    request = wire.last.request
    assert "aws-chunked" in request.headers.get("content-encoding", "")
    params = wire.last.params
    assert params["Body"] == b"x" * 70_000
    assert params["ChecksumCRC32"]  # from the trailer
    assert params["ContentEncoding"] == "gzip"


def test_decode_aws_chunked_signed_chunks() -> None:
    body = b"5;chunk-signature=ab\r\nhello\r\n6;chunk-signature=cd\r\n world\r\n0;chunk-signature=ef\r\n\r\n"
    assert decode_aws_chunked(body) == (b"hello world", {})
    with pytest.raises(SerializationError):
        decode_aws_chunked(b"ff\r\nshort\r\n")
    protocol = RestXmlProtocol()
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": "12"}
    request = AwsRequest("PUT", "/bucket/key", "", headers, body)
    with pytest.raises(ServiceError) as caught:
        protocol.parse(request, protocol.match_operation(request, service_model("s3")))
    assert caught.value.code == "IncompleteBody"


def test_get_object_streams_body_and_headers(bridge: Any) -> None:
    result = {
        "Body": b"payload",
        "ContentLength": 7,
        "ContentType": "application/octet-stream",
        "ETag": '"e"',
        "LastModified": MODIFIED,
        "Metadata": {"owner": "me"},
        "ContentRange": "bytes 0-6/7",
    }
    wire = bridge("s3", _recording({"GetObject": result}))
    reply = wire.client.get_object(Bucket="bucket", Key=KEY, Range="bytes=0-6")
    assert wire.last.params["Range"] == "bytes=0-6"
    assert reply["Body"].read() == b"payload"
    assert reply["LastModified"] == MODIFIED
    assert reply["Metadata"] == {"owner": "me"}
    assert (reply["ContentLength"], reply["ETag"], reply["ContentRange"]) == (7, '"e"', "bytes 0-6/7")


def test_get_object_no_such_key(bridge: Any) -> None:
    error = ServiceError("NoSuchKey", "The specified key does not exist.", 404, fields={"Key": "k"})
    wire = bridge("s3", _recording({"GetObject": error}))
    with pytest.raises(wire.client.exceptions.NoSuchKey) as caught:
        wire.client.get_object(Bucket="bucket", Key="k")
    assert caught.value.response["Error"]["Message"] == "The specified key does not exist."
    assert caught.value.response["Error"]["Key"] == "k"
    assert wire.last.response.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey')


def test_head_bucket_missing_is_bodyless_404(bridge: Any) -> None:
    wire = bridge("s3", _recording({"HeadBucket": ServiceError("NoSuchBucket", "Not here", 404)}))
    with pytest.raises(wire.client.exceptions.ClientError) as caught:
        wire.client.head_bucket(Bucket="bucket", ExpectedBucketOwner="123456789012")
    assert wire.last.params == {"Bucket": "bucket", "ExpectedBucketOwner": "123456789012"}
    assert wire.last.response.body == b""
    assert caught.value.response["Error"] == {"Code": "404", "Message": "Not Found"}


def test_head_bucket_found(bridge: Any) -> None:
    wire = bridge("s3", _recording({"HeadBucket": {"BucketRegion": "us-east-1"}}))
    assert wire.client.head_bucket(Bucket="bucket")["BucketRegion"] == "us-east-1"


def test_list_objects_v2(bridge: Any) -> None:
    def handler(params: dict[str, Any]) -> dict[str, Any]:
        # boto3 adds EncodingType=url itself (and url-decodes keys in the reply)
        assert params == {
            "Bucket": "bucket",
            "Prefix": "dir/",
            "Delimiter": "/",
            "MaxKeys": 2,
            "EncodingType": "url",
        }
        return {
            "IsTruncated": True,
            "Contents": [
                {
                    "Key": "dir/a",
                    "LastModified": MODIFIED,
                    "ETag": '"1"',
                    "Size": 1,
                    "StorageClass": "STANDARD",
                },
                {
                    "Key": "dir/b & c",
                    "LastModified": MODIFIED,
                    "ETag": '"2"',
                    "Size": 2,
                    "StorageClass": "STANDARD",
                },
            ],
            "Name": "bucket",
            "Prefix": "dir/",
            "Delimiter": "/",
            "MaxKeys": 2,
            "CommonPrefixes": [{"Prefix": "dir/sub/"}],
            "KeyCount": 3,
            "NextContinuationToken": "next",
        }

    wire = bridge("s3", _recording({"ListObjectsV2": handler}))
    reply = wire.client.list_objects_v2(Bucket="bucket", Prefix="dir/", Delimiter="/", MaxKeys=2)
    assert wire.last.operation == "ListObjectsV2"
    assert [item["Key"] for item in reply["Contents"]] == ["dir/a", "dir/b & c"]
    assert reply["Contents"][0]["LastModified"] == MODIFIED
    assert reply["CommonPrefixes"] == [{"Prefix": "dir/sub/"}]
    assert (reply["IsTruncated"], reply["KeyCount"], reply["NextContinuationToken"]) == (True, 3, "next")
    assert b"<ListBucketResult" in wire.last.response.body


def test_create_bucket_payload_and_bucket_errors(bridge: Any) -> None:
    results: dict[str, Any] = {"CreateBucket": {"Location": "/bucket"}}
    wire = bridge("s3", _recording(results))
    reply = wire.client.create_bucket(
        Bucket="bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    assert wire.last.params["CreateBucketConfiguration"] == {"LocationConstraint": "eu-west-1"}
    assert reply["Location"] == "/bucket"
    results["CreateBucket"] = ServiceError("BucketAlreadyOwnedByYou", "You already own it.", 409)
    with pytest.raises(wire.client.exceptions.BucketAlreadyOwnedByYou):
        wire.client.create_bucket(Bucket="bucket")
    results["ListObjects"] = ServiceError("NoSuchBucket", "The specified bucket does not exist", 404)
    with pytest.raises(wire.client.exceptions.NoSuchBucket):
        wire.client.list_objects(Bucket="bucket")


def test_delete_objects_xml_payload_and_result(bridge: Any) -> None:
    def handler(params: dict[str, Any]) -> dict[str, Any]:
        assert params["Delete"] == {"Objects": [{"Key": "a"}, {"Key": "b", "VersionId": "2"}], "Quiet": False}
        return {
            "Deleted": [{"Key": "a"}],
            "Errors": [{"Key": "b", "Code": "AccessDenied", "Message": "Access Denied"}],
        }

    wire = bridge("s3", _recording({"DeleteObjects": handler}))
    reply = wire.client.delete_objects(
        Bucket="bucket", Delete={"Objects": [{"Key": "a"}, {"Key": "b", "VersionId": "2"}], "Quiet": False}
    )
    assert reply["Deleted"] == [{"Key": "a"}]
    assert reply["Errors"] == [{"Key": "b", "Code": "AccessDenied", "Message": "Access Denied"}]


def test_multipart_and_copy_routing(bridge: Any) -> None:
    results = {
        "CreateMultipartUpload": {"Bucket": "bucket", "Key": "k", "UploadId": "u1"},
        "UploadPart": {"ETag": '"p1"'},
        "UploadPartCopy": {"CopyPartResult": {"ETag": '"p2"', "LastModified": MODIFIED}},
        "ListParts": {"Parts": [{"PartNumber": 1, "ETag": '"p1"', "Size": 5}], "UploadId": "u1"},
        "CompleteMultipartUpload": {"Location": "/bucket/k", "Bucket": "bucket", "Key": "k", "ETag": '"m-2"'},
        "AbortMultipartUpload": {},
        "CopyObject": {"CopyObjectResult": {"ETag": '"c"', "LastModified": MODIFIED}},
        "DeleteObject": {},
        "PutObject": {},
    }
    wire = bridge("s3", _recording(results))
    client = wire.client
    assert client.create_multipart_upload(Bucket="bucket", Key="k")["UploadId"] == "u1"
    assert (
        client.upload_part(Bucket="bucket", Key="k", UploadId="u1", PartNumber=1, Body=b"abcde")["ETag"]
        == '"p1"'
    )
    assert wire.last.params["PartNumber"] == 1
    copied = client.upload_part_copy(
        Bucket="bucket", Key="k", UploadId="u1", PartNumber=2, CopySource="src/obj"
    )
    assert copied["CopyPartResult"]["ETag"] == '"p2"'
    assert client.list_parts(Bucket="bucket", Key="k", UploadId="u1")["Parts"][0]["Size"] == 5
    done = client.complete_multipart_upload(
        Bucket="bucket",
        Key="k",
        UploadId="u1",
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"p1"'}, {"PartNumber": 2, "ETag": '"p2"'}]},
    )
    assert wire.last.params["MultipartUpload"]["Parts"][1] == {"PartNumber": 2, "ETag": '"p2"'}
    assert done["ETag"] == '"m-2"'
    client.abort_multipart_upload(Bucket="bucket", Key="k", UploadId="u1")
    assert (
        client.copy_object(Bucket="bucket", Key="k2", CopySource={"Bucket": "src", "Key": "a b"})[
            "CopyObjectResult"
        ]["LastModified"]
        == MODIFIED
    )
    assert wire.last.params["CopySource"] == "src/a%20b"
    client.delete_object(Bucket="bucket", Key="k")
    client.put_object(Bucket="bucket", Key="k")
    seen = [exchange.operation for exchange in wire.exchanges]
    assert seen == [
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "ListParts",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
        "CopyObject",
        "DeleteObject",
        "PutObject",
    ]


def test_get_bucket_location(bridge: Any) -> None:
    wire = bridge("s3", _recording({"GetBucketLocation": {"LocationConstraint": "eu-west-1"}}))
    assert wire.client.get_bucket_location(Bucket="bucket")["LocationConstraint"] == "eu-west-1"
    assert b">eu-west-1</LocationConstraint>" in wire.last.response.body


@pytest.mark.parametrize(
    "body",
    [
        b"<Delete><Object><Key>a</Key></Object>",  # not well-formed
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><Delete><Object><Key>&e;</Key></Object>'
        b"</Delete>",
        b"<Delete><Quiet>maybe</Quiet></Delete>",
        b"\xff\xfe<",
    ],
)
def test_bad_xml_is_a_serialization_error(body: bytes) -> None:
    protocol = RestXmlProtocol()
    request = AwsRequest("POST", "/bucket", "delete", {"content-type": "application/xml"}, body)
    operation = protocol.match_operation(request, service_model("s3"))
    assert operation.name == "DeleteObjects"
    with pytest.raises(SerializationError):
        protocol.parse(request, operation)


def test_other_rest_xml_services_use_error_response() -> None:
    model = service_model("route53")
    error = ServiceError("NoSuchHostedZone", "No hosted zone found with ID: Z1", 404)
    response = RestXmlProtocol().serialize_error(error, model, model.operation_model("GetHostedZone"), "r")
    assert b"<ErrorResponse" in response.body
    assert b"<Type>Sender</Type><Code>NoSuchHostedZone</Code>" in response.body
    assert response.headers["x-amzn-RequestId"] == "r"
