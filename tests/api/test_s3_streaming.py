"""Upload bodies on the wire: aws-chunked with trailers, lying or cut-off bodies, presigned URLs."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from s3_helpers import bucket, error_of, raw_exchange, request_head, s3, signed, wait_until

from sagemill.testing.live_server import LiveServer

__all__ = ["bucket", "s3"]

MiB = 1024 * 1024


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def aws_chunked(
    data: bytes, trailers: dict[str, str], chunk: int = 4096, signed_chunks: bool = False
) -> bytes:
    """An aws-chunked body as SDKs frame it (chunk signatures are placeholders: dev auth ignores them)."""
    extension = ";chunk-signature=" + "0" * 64 if signed_chunks else ""
    out = bytearray()
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        out += f"{len(piece):x}{extension}\r\n".encode() + piece + b"\r\n"
    out += f"0{extension}\r\n".encode()
    for name, value in trailers.items():
        out += f"{name}:{value}\r\n".encode()
    return bytes(out + b"\r\n")


def put_chunked(
    server: LiveServer, path: str, data: bytes, trailers: dict[str, str], **kw: Any
) -> requests.Response:
    body = aws_chunked(data, trailers, **kw)
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": ",".join(trailers),
        "x-amz-sdk-checksum-algorithm": "CRC32",
    }
    url = f"{server.url}{path}"
    return requests.put(
        url,
        data=body,
        headers=signed("PUT", url, headers, body, payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
    )


def test_aws_chunked_with_a_crc32_trailer(server: LiveServer, s3: Any, bucket: str) -> None:
    data = bytes(range(256)) * 100
    reply = put_chunked(server, f"/{bucket}/chunked", data, {"x-amz-checksum-crc32": crc32(data)})
    assert reply.status_code == 200, reply.content
    assert reply.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert reply.headers["x-amz-checksum-crc32"] == crc32(data)
    got = s3.get_object(Bucket=bucket, Key="chunked", ChecksumMode="ENABLED")
    assert got["Body"].read() == data and got["ChecksumCRC32"] == crc32(data)
    assert "ContentEncoding" not in got  # the framing is not the object's encoding


def test_signed_chunks_are_decoded(server: LiveServer, s3: Any, bucket: str) -> None:
    data = b"signed chunk framing " * 500
    reply = put_chunked(
        server, f"/{bucket}/sigchunks", data, {"x-amz-checksum-crc32": crc32(data)}, signed_chunks=True
    )
    assert reply.status_code == 200, reply.content
    assert s3.get_object(Bucket=bucket, Key="sigchunks")["Body"].read() == data


def test_wrong_trailer_checksum_stores_nothing(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="guarded", Body=b"old bytes")
    data = b"new bytes that get corrupted" * 100
    reply = put_chunked(
        server, f"/{bucket}/guarded", data, {"x-amz-checksum-crc32": crc32(b"something else")}
    )
    assert reply.status_code == 400
    assert error_of(reply) == ("BadDigest", "The CRC32 you specified did not match the calculated checksum.")
    assert s3.get_object(Bucket=bucket, Key="guarded")["Body"].read() == b"old bytes"
    # A decoded length that disagrees with the framing is refused too.
    body = aws_chunked(data, {"x-amz-checksum-crc32": crc32(data)})
    url = f"{server.url}/{bucket}/guarded"
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data) + 5)}
    reply = requests.put(
        url, data=body, headers=signed("PUT", url, headers, body, payload="STREAMING-UNSIGNED-PAYLOAD")
    )
    assert reply.status_code == 400 and error_of(reply)[0] == "IncompleteBody"
    assert s3.get_object(Bucket=bucket, Key="guarded")["Body"].read() == b"old bytes"


def https_like_client(server: LiveServer) -> Any:
    """A boto3 client that frames uploads as it does over HTTPS (aws-chunked + CRC32 trailer)...

    ...and then hands the prepared request to `requests` over plain HTTP, so the server sees exactly
    the bytes botocore would have sent over TLS.
    """
    port = server.port
    client = boto3.client(
        "s3",
        endpoint_url=f"https://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="123456789012",
        aws_secret_access_key="sagemill-test-secret",
        config=Config(request_checksum_calculation="when_supported", retries={"max_attempts": 1}),
    )

    def send_over_http(request: Any, **_: Any) -> AWSResponse:
        url = request.url.replace("https://", "http://", 1)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "transfer-encoding"}
        body = request.body
        if hasattr(body, "read"):
            # botocore streams aws-chunked with Transfer-Encoding: chunked and no Content-Length.
            body = iter(lambda: request.body.read(8192), b"")
        reply = requests.request(request.method, url, headers=headers, data=body, stream=True)
        return AWSResponse(url, reply.status_code, reply.headers, reply.raw)

    client.meta.events.register("before-send.s3", send_over_http)
    return client


def test_boto3_https_framing_end_to_end(server: LiveServer, s3: Any, bucket: str, tmp_path: Path) -> None:
    client = https_like_client(server)
    seen: dict[str, str] = {}
    client.meta.events.register_first(
        "before-send.s3.PutObject",
        lambda request, **_: seen.update(
            {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        ),
    )
    data = b"framed by botocore " * 1000
    put = client.put_object(Bucket=bucket, Key="framed", Body=data)
    assert seen["Content-Encoding"] == "aws-chunked" and seen["Transfer-Encoding"] == "chunked"
    assert seen["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert put["ChecksumCRC32"] == crc32(data)
    assert s3.get_object(Bucket=bucket, Key="framed")["Body"].read() == data
    # Multipart parts are framed the same way (UploadPart with a CRC32 trailer per part).
    source = tmp_path / "parts.bin"
    source.write_bytes(os.urandom(11 * MiB))
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    client.upload_file(str(source), bucket, "framed-parts", Config=config)
    head = s3.head_object(Bucket=bucket, Key="framed-parts")
    assert head["ContentLength"] == 11 * MiB and head["ETag"].endswith('-3"')
    assert s3.get_object(Bucket=bucket, Key="framed-parts")["Body"].read() == source.read_bytes()


def _cut_off(server: LiveServer, path: str, declared: int, sent: bytes) -> None:
    url = f"{server.url}{path}"
    headers = signed("PUT", url, {"Content-Length": str(declared)}, payload="UNSIGNED-PAYLOAD")
    raw_exchange(server, request_head("PUT", url, headers), [sent], close_early=True)


def _no_temporary_files(server: LiveServer) -> bool:
    """The filesystem store's spool of bodies in flight is empty (the aborted write was cleaned up)."""
    spool = server.data_dir / "objects" / "tmp"
    return not spool.exists() or not any(spool.iterdir())


def test_a_content_length_that_lies_stores_nothing(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="kept", Body=b"the old object")
    _cut_off(server, f"/{bucket}/kept", 1_000_000, b"x" * 10_000)
    _cut_off(server, f"/{bucket}/never", 1_000_000, b"y" * 10_000)
    assert wait_until(lambda: _no_temporary_files(server))
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"the old object"
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="never")
    assert "never" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_an_upload_aborted_mid_body_stores_nothing(server: LiveServer, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="parted")["UploadId"]
    _cut_off(server, f"/{bucket}/parted?partNumber=1&uploadId={upload_id}", 6_000_000, b"z" * 3_000_000)
    _cut_off(server, f"/{bucket}/aborted", 8_000_000, b"z" * 4_000_000)
    assert wait_until(lambda: _no_temporary_files(server))
    assert s3.list_parts(Bucket=bucket, Key="parted", UploadId=upload_id).get("Parts", []) == []
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="aborted")
    assert caught.value.response["Error"]["Code"] == "404"


def test_presigned_get_and_put(server: LiveServer, bucket: str) -> None:
    client = server.client("s3", signature_version="s3v4")
    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "signed/url.txt"}, ExpiresIn=300
    )
    assert "X-Amz-Credential=" in put_url and "Authorization" not in put_url
    reply = requests.put(put_url, data=b"uploaded with a presigned URL")
    assert reply.status_code == 200, reply.content
    get_url = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "signed/url.txt"}, ExpiresIn=300
    )
    reply = requests.get(get_url)
    assert reply.status_code == 200 and reply.content == b"uploaded with a presigned URL"
    ranged = requests.get(get_url, headers={"Range": "bytes=0-7"})
    assert ranged.status_code == 206 and ranged.content == b"uploaded"


def test_expired_presigned_url_is_refused(server: LiveServer, bucket: str) -> None:
    client = server.client("s3", signature_version="s3v4")
    client.put_object(Bucket=bucket, Key="old.txt", Body=b"x")
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "old.txt"}, ExpiresIn=60
    )
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["X-Amz-Date"] = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%Y%m%dT%H%M%SZ")
    expired = urlunsplit(parts._replace(query=urlencode(query)))
    reply = requests.get(expired)
    assert reply.status_code == 403
    assert error_of(reply) == ("AccessDenied", "Request has expired")
    query["X-Amz-Expires"] = "999999999"
    assert requests.get(urlunsplit(parts._replace(query=urlencode(query)))).status_code == 400


def test_sigv2_presigned_urls_are_refused_with_a_pointer_to_s3v4(server: LiveServer, bucket: str) -> None:
    client = server.client("s3")  # boto3's default S3 presigner is still SigV2
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "any"})
    assert "AWSAccessKeyId=" in url
    reply = requests.get(url)
    assert reply.status_code == 400
    code, message = error_of(reply)
    assert code == "InvalidRequest" and "signature_version='s3v4'" in message


def test_a_refused_upload_does_not_poison_the_connection(server: LiveServer, s3: Any, bucket: str) -> None:
    # botocore sends Expect: 100-continue and, refused before any 100, never sends the body: the
    # server must close rather than read the next request as that body.
    for _ in range(3):
        with pytest.raises(ClientError) as caught:
            s3.put_object(Bucket=bucket, Key="k" * 2000, Body=b"x" * 100)
        assert caught.value.response["Error"]["Code"] == "KeyTooLongError"
        assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["connection"] == "close"
        s3.put_object(Bucket=bucket, Key="after", Body=b"fine")
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"fine"


def test_buffered_put_bodies_larger_than_the_prefetch(server: LiveServer, bucket: str) -> None:
    # PUTs the model does not stream (here PutBucketTagging) are read whole, past the upload prefetch.
    url = f"{server.url}/{bucket}?tagging"
    for size, status in ((10 * MiB, 400), (17 * MiB, 413)):
        body = b"<Tagging>" + b" " * size + b"</Tagging>"
        reply = requests.put(
            url, data=body, headers=signed("PUT", url, {}, body, payload="UNSIGNED-PAYLOAD"), timeout=30
        )
        assert reply.status_code == status, reply.content[:300]
