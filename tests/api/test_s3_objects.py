"""S3 objects with boto3: put/get/head/delete, metadata, ranges, conditional reads, digests and key rules."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import google_crc32c
import pytest
import requests
from botocore.exceptions import ClientError
from s3_helpers import bucket, error_of, raw_exchange, request, request_head, s3, signed

from sagemill.testing.live_server import LiveServer, free_port

__all__ = ["bucket", "s3"]

DATA = bytes(range(256)) * 40  # 10240 bytes


def error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_put_get_head_delete_round_trip(s3: Any, bucket: str) -> None:
    put = s3.put_object(
        Bucket=bucket,
        Key="data/blob.bin",
        Body=DATA,
        ContentType="application/x-test",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="blob.bin"',
        ContentLanguage="en",
        CacheControl="max-age=60",
        Expires=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        Metadata={"Owner": "team-a", "purpose": "test"},
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="arn:aws:kms:us-east-1:123456789012:key/abc",
    )
    etag = f'"{hashlib.md5(DATA).hexdigest()}"'
    assert put["ETag"] == etag
    assert put["ServerSideEncryption"] == "aws:kms"
    assert put["SSEKMSKeyId"] == "arn:aws:kms:us-east-1:123456789012:key/abc"
    got = s3.get_object(Bucket=bucket, Key="data/blob.bin")
    assert got["Body"].read() == DATA
    head = s3.head_object(Bucket=bucket, Key="data/blob.bin")
    for reply in (got, head):
        assert reply["ETag"] == etag
        assert reply["ContentLength"] == len(DATA)
        assert reply["ContentType"] == "application/x-test"
        assert reply["ContentEncoding"] == "identity"
        assert reply["ContentDisposition"] == 'attachment; filename="blob.bin"'
        assert reply["ContentLanguage"] == "en"
        assert reply["CacheControl"] == "max-age=60"
        assert reply["ExpiresString"] == "Wed, 02 Jan 2030 03:04:05 GMT"
        assert reply["Metadata"] == {"owner": "team-a", "purpose": "test"}
        assert reply["ServerSideEncryption"] == "aws:kms"
        assert reply["AcceptRanges"] == "bytes"
        assert abs(reply["LastModified"] - datetime.now(UTC)) < timedelta(minutes=1)
    s3.delete_object(Bucket=bucket, Key="data/blob.bin")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="data/blob.bin")
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="data/blob.bin")
    assert caught.value.response["Error"] == {"Code": "404", "Message": "Not Found"}
    # Deleting what is not there is still a 204, as in S3.
    assert s3.delete_object(Bucket=bucket, Key="data/blob.bin")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_defaults_and_empty_object(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert put["ServerSideEncryption"] == "AES256"
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentType"] == "binary/octet-stream"
    assert got["ContentLength"] == 0


def test_overwrite_replaces_bytes_and_metadata(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", Metadata={"v": "1"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"second!", ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second!"
    assert got["Metadata"] == {} and got["ContentType"] == "text/plain"


@pytest.mark.parametrize(
    "key",
    [
        "a/../../etc/passwd",
        "../outside",
        "./dot/./segments",
        "a//double//slash",
        "%2F encoded %2e%2e",
        "unicode/\u00e9t\u00e9/\u65e5\u672c/\U0001f600",
        "spaces and +plus+ & ?query#hash",
        "trailing/",
        "/leading",
    ],
)
def test_keys_are_plain_strings(s3: Any, bucket: str, key: str) -> None:
    body = key.encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]]
    assert key in listed
    s3.delete_object(Bucket=bucket, Key=key)


def test_dot_dot_key_does_not_touch_the_filesystem(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="x/../../../../../../etc/passwd", Body=b"not a password file")
    assert s3.get_object(Bucket=bucket, Key="x/../../../../../../etc/passwd")["Body"].read() == (
        b"not a password file"
    )
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="etc/passwd")
    assert not list(server.data_dir.rglob("passwd"))


def test_key_length_limit(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"max")
    assert s3.get_object(Bucket=bucket, Key="k" * 1024)["Body"].read() == b"max"
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error(caught) == ("KeyTooLongError", 400)
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="\u00e9" * 513, Body=b"x")  # 1026 bytes of UTF-8
    assert error(caught) == ("KeyTooLongError", 400)


@pytest.mark.parametrize("raw_key", ["bad%FFutf8", "nul%00byte", "%C3"])
def test_undecodable_and_nul_keys_are_refused(server: LiveServer, bucket: str, raw_key: str) -> None:
    reply = request(server, "PUT", f"/{bucket}/{raw_key}", body=b"x")
    assert reply.status_code == 400
    assert error_of(reply)[0] == "InvalidURI"


def test_ranges(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=DATA)
    cases = {
        "bytes=0-9": (0, 9),
        "bytes=10-": (10, len(DATA) - 1),
        "bytes=-16": (len(DATA) - 16, len(DATA) - 1),
        "bytes=10000-99999": (10000, len(DATA) - 1),
        "bytes=-99999": (0, len(DATA) - 1),
    }
    for header, (first, last) in cases.items():
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, header
        assert got["ContentRange"] == f"bytes {first}-{last}/{len(DATA)}"
        assert got["ContentLength"] == last - first + 1
        assert got["Body"].read() == DATA[first : last + 1]
    head = s3.head_object(Bucket=bucket, Key="r", Range="bytes=0-0")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206 and head["ContentLength"] == 1
    # Syntax S3 does not understand is ignored: the whole object, 200.
    for ignored in ("bytes=5-2", "items=0-1", "bytes=0-1,4-5"):
        got = s3.get_object(Bucket=bucket, Key="r", Range=ignored)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert got["Body"].read() == DATA
    for unsatisfiable in (f"bytes={len(DATA)}-", "bytes=-0"):
        with pytest.raises(ClientError) as caught:
            s3.get_object(Bucket=bucket, Key="r", Range=unsatisfiable)
        assert error(caught) == ("InvalidRange", 416)
        assert caught.value.response["Error"]["ActualObjectSize"] == str(len(DATA))


def test_conditional_reads(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    before, after = modified - timedelta(hours=1), modified + timedelta(hours=1)
    ok = [
        {"IfMatch": etag},
        {"IfMatch": "*"},
        {"IfNoneMatch": '"0000"'},
        {"IfModifiedSince": before},
        {"IfUnmodifiedSince": after},
        {"IfUnmodifiedSince": modified},
        # If-Match passing outranks a failing If-Unmodified-Since.
        {"IfMatch": etag, "IfUnmodifiedSince": before},
    ]
    for conditions in ok:
        assert s3.get_object(Bucket=bucket, Key="c", **conditions)["Body"].read() == b"conditional"
    failing = [
        ({"IfMatch": '"0000"'}, "412"),
        ({"IfUnmodifiedSince": before}, "412"),
        ({"IfNoneMatch": etag}, "304"),
        ({"IfNoneMatch": "*"}, "304"),
        ({"IfModifiedSince": after}, "304"),
        ({"IfModifiedSince": modified}, "304"),
        # If-None-Match failing and If-Modified-Since passing: still 304 (S3's documented rule).
        ({"IfNoneMatch": etag, "IfModifiedSince": before}, "304"),
    ]
    for conditions, status in failing:
        for call in (s3.get_object, s3.head_object):
            with pytest.raises(ClientError) as caught:
                call(Bucket=bucket, Key="c", **conditions)
            assert str(caught.value.response["ResponseMetadata"]["HTTPStatusCode"]) == status, conditions
            if status == "412" and call is s3.get_object:
                assert caught.value.response["Error"]["Code"] == "PreconditionFailed"
            if status == "304":
                assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag


def test_conditional_writes(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="w", Body=b"one", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfNoneMatch="*")
    assert error(caught) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfMatch='"0000"')
    assert error(caught) == ("PreconditionFailed", 412)
    s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="w")["Body"].read() == b"two"


def test_content_md5(server: LiveServer, s3: Any, bucket: str) -> None:
    good = b64(hashlib.md5(b"payload").digest())
    s3.put_object(Bucket=bucket, Key="md5", Body=b"payload", ContentMD5=good)
    wrong = b64(hashlib.md5(b"other").digest())
    reply = request(server, "PUT", f"/{bucket}/md5", {"Content-MD5": wrong}, b"changed")
    assert reply.status_code == 400
    assert error_of(reply) == ("BadDigest", "The Content-MD5 you specified did not match what we received.")
    reply = request(server, "PUT", f"/{bucket}/md5", {"Content-MD5": "not-base64!"}, b"changed")
    assert error_of(reply) == ("InvalidDigest", "The Content-MD5 you specified is not valid.")
    assert s3.get_object(Bucket=bucket, Key="md5")["Body"].read() == b"payload"


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_flexible_checksums_are_stored_and_returned(s3: Any, bucket: str, algorithm: str) -> None:
    put = s3.put_object(Bucket=bucket, Key=f"sum-{algorithm}", Body=DATA, ChecksumAlgorithm=algorithm)
    member = f"Checksum{algorithm}"
    assert put[member]
    got = s3.get_object(Bucket=bucket, Key=f"sum-{algorithm}", ChecksumMode="ENABLED")
    assert got[member] == put[member]
    assert got["Body"].read() == DATA
    head = s3.head_object(Bucket=bucket, Key=f"sum-{algorithm}")
    assert member not in head  # only with x-amz-checksum-mode: ENABLED
    if algorithm == "CRC32":
        assert put[member] == b64(zlib.crc32(DATA).to_bytes(4, "big"))
    if algorithm == "SHA256":
        assert put[member] == b64(hashlib.sha256(DATA).digest())


def test_crc32c_checksum(server: LiveServer, bucket: str) -> None:
    # botocore computes CRC32C only with awscrt, so this one is sent by hand.
    value = b64(google_crc32c.value(DATA).to_bytes(4, "big"))
    reply = request(server, "PUT", f"/{bucket}/c32c", {"x-amz-checksum-crc32c": value}, DATA)
    assert reply.status_code == 200 and reply.headers["x-amz-checksum-crc32c"] == value
    got = request(server, "GET", f"/{bucket}/c32c", {"x-amz-checksum-mode": "ENABLED"})
    assert got.headers["x-amz-checksum-crc32c"] == value and got.content == DATA
    wrong = b64(google_crc32c.value(b"nope").to_bytes(4, "big"))
    reply = request(server, "PUT", f"/{bucket}/c32c", {"x-amz-checksum-crc32c": wrong}, b"nope!")
    assert error_of(reply) == ("BadDigest", "The CRC32C you specified did not match the calculated checksum.")


def test_mismatched_checksum_header_is_bad_digest(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="sum", Body=b"original")
    wrong = b64(zlib.crc32(b"something else").to_bytes(4, "big"))
    headers = {"x-amz-checksum-crc32": wrong, "x-amz-sdk-checksum-algorithm": "CRC32"}
    reply = request(server, "PUT", f"/{bucket}/sum", headers, b"replacement")
    assert reply.status_code == 400
    assert error_of(reply) == ("BadDigest", "The CRC32 you specified did not match the calculated checksum.")
    reply = request(server, "PUT", f"/{bucket}/sum", {"x-amz-checksum-sha256": "AAAA"}, b"replacement")
    assert error_of(reply) == ("InvalidRequest", "Value for x-amz-checksum-sha256 header is invalid.")
    assert s3.get_object(Bucket=bucket, Key="sum")["Body"].read() == b"original"


def test_signed_payload_hash_is_verified(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="signed", Body=b"original")
    claimed = hashlib.sha256(b"what was signed").hexdigest()
    reply = request(server, "PUT", f"/{bucket}/signed", body=b"what was sent", payload=claimed)
    assert reply.status_code == 400
    assert error_of(reply)[0] == "XAmzContentSHA256Mismatch"
    assert s3.get_object(Bucket=bucket, Key="signed")["Body"].read() == b"original"


def test_delete_objects(s3: Any, bucket: str) -> None:
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    reply = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "missing"}]})
    assert sorted(d["Key"] for d in reply["Deleted"]) == ["a", "missing"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["c"]
    with pytest.raises(ClientError) as caught:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": str(i)} for i in range(1001)]})
    assert error(caught) == ("MalformedXML", 400)


def test_response_overrides_and_unsupported_features(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    got = s3.get_object(
        Bucket=bucket, Key="o", ResponseContentType="application/json", ResponseCacheControl="no-store"
    )
    assert got["ContentType"] == "application/json" and got["CacheControl"] == "no-store"
    sse_c = {
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
        "x-amz-server-side-encryption-customer-key": b64(b"k" * 32),
        "x-amz-server-side-encryption-customer-key-MD5": b64(hashlib.md5(b"k" * 32).digest()),
    }
    reply = request(server, "PUT", f"/{bucket}/o", sse_c, b"y")
    assert reply.status_code == 501 and error_of(reply)[0] == "NotImplemented"
    reply = request(server, "PUT", f"/{bucket}/o", {"x-amz-sdk-checksum-algorithm": "CRC64NVME"}, b"y")
    assert reply.status_code == 400 and "CRC64NVME" in error_of(reply)[1]


def test_missing_content_length_is_411(server: LiveServer, bucket: str) -> None:
    def chunks() -> Any:
        yield b"streamed without a length"

    url = f"{server.url}/{bucket}/no-length"
    reply = requests.put(url, data=chunks(), headers=signed("PUT", url, payload="UNSIGNED-PAYLOAD"))
    assert reply.status_code == 411 and error_of(reply)[0] == "MissingContentLength"


def test_object_store_flag_puts_bytes_where_told(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    live = LiveServer(tmp_path / "data", extra_args=["--object-store", f"file://{elsewhere}"]).start()
    try:
        client = live.client("s3")
        client.create_bucket(Bucket="flagged")
        client.put_object(Bucket="flagged", Key="k", Body=b"bytes")
        assert client.get_object(Bucket="flagged", Key="k")["Body"].read() == b"bytes"
    finally:
        live.stop()
    assert any(elsewhere.iterdir()) and not (tmp_path / "data" / "objects").exists()
    command = [sys.executable, "-m", "sagemill", "serve", "--migrate", "--port", str(free_port())]
    command += ["--data-dir", str(tmp_path / "data"), "--object-store", "ftp://nowhere/"]
    refused = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "cannot open the object store" in refused.stderr


def test_single_put_over_5_gib_is_refused_before_the_body(server: LiveServer, bucket: str) -> None:
    url = f"{server.url}/{bucket}/huge"
    size = 5 * 1024**3 + 1
    headers = signed("PUT", url, {"Content-Length": str(size)}, payload="UNSIGNED-PAYLOAD")
    reply = raw_exchange(server, request_head("PUT", url, headers), [b"only the start"], close_early=False)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert (
        b"<Code>EntityTooLarge</Code>" in reply and f"<ProposedSize>{size}</ProposedSize>".encode() in reply
    )
