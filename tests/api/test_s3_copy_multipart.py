"""CopyObject and multipart uploads with boto3, including s3transfer's upload_file/download_file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from s3_helpers import bucket, error_of, request, s3

from sagemill.testing.live_server import LiveServer

__all__ = ["bucket", "s3"]

MiB = 1024 * 1024


def error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def multipart_etag(parts: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def test_copy_object_keeps_or_replaces_metadata(s3: Any, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket, Key="src/a b+c.txt", Body=b"copy me", ContentType="text/plain", Metadata={"k": "v"}
    )
    copied = s3.copy_object(
        Bucket=bucket, Key="dst/kept", CopySource={"Bucket": bucket, "Key": "src/a b+c.txt"}
    )
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
    kept = s3.get_object(Bucket=bucket, Key="dst/kept")
    assert kept["Body"].read() == b"copy me"
    assert kept["ContentType"] == "text/plain" and kept["Metadata"] == {"k": "v"}
    s3.copy_object(
        Bucket=bucket,
        Key="dst/replaced",
        CopySource=f"{bucket}/src/a b+c.txt",  # a string source; botocore URL-encodes it
        MetadataDirective="REPLACE",
        ContentType="application/json",
        Metadata={"new": "1"},
    )
    replaced = s3.head_object(Bucket=bucket, Key="dst/replaced")
    assert replaced["ContentType"] == "application/json" and replaced["Metadata"] == {"new": "1"}


def test_copy_source_forms(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="\u00fcber/a b", Body=b"forms")
    # botocore URL-encodes a string or dict source (and keeps a ?versionId= suffix as it is).
    for source in (
        f"{bucket}/\u00fcber/a b",
        f"{bucket}/\u00fcber/a b?versionId=null",
        {"Bucket": bucket, "Key": "\u00fcber/a b"},
    ):
        s3.delete_object(Bucket=bucket, Key="copy")
        s3.copy_object(Bucket=bucket, Key="copy", CopySource=source)
        assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"forms"
    # Other clients send it encoded by hand, with or without the leading slash.
    for header in (f"/{bucket}/%C3%BCber/a%20b", f"{bucket}/%C3%BCber/a%20b"):
        s3.delete_object(Bucket=bucket, Key="copy")
        reply = request(server, "PUT", f"/{bucket}/copy", {"x-amz-copy-source": header})
        assert reply.status_code == 200 and b"<CopyObjectResult" in reply.content, reply.content
        assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"forms"
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/\u00fcber/a b?versionId=abc")
    assert error(caught) == ("InvalidArgument", 400)
    reply = request(server, "PUT", f"/{bucket}/copy", {"x-amz-copy-source": "just-a-bucket"})
    assert error_of(reply)[0] == "InvalidArgument"
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "absent"})
    assert error(caught) == ("NoSuchKey", 404)


def test_copy_onto_itself_needs_a_change(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="self", Body=b"same")
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    assert error(caught) == ("InvalidRequest", 400)
    s3.copy_object(
        Bucket=bucket,
        Key="self",
        CopySource={"Bucket": bucket, "Key": "self"},
        MetadataDirective="REPLACE",
        Metadata={"touched": "yes"},
    )
    assert s3.head_object(Bucket=bucket, Key="self")["Metadata"] == {"touched": "yes"}


def test_copy_source_conditions(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="cond", Body=b"x")["ETag"]
    s3.copy_object(
        Bucket=bucket, Key="c1", CopySource={"Bucket": bucket, "Key": "cond"}, CopySourceIfMatch=etag
    )
    with pytest.raises(ClientError) as caught:
        s3.copy_object(
            Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "cond"}, CopySourceIfNoneMatch=etag
        )
    assert error(caught) == ("PreconditionFailed", 412)


def test_manual_multipart_with_part_copy(s3: Any, bucket: str) -> None:
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="joined", ContentType="application/x-joined", Metadata={"m": "1"}
    )
    upload_id = upload["UploadId"]
    part1 = os.urandom(5 * MiB)
    e1 = s3.upload_part(Bucket=bucket, Key="joined", UploadId=upload_id, PartNumber=1, Body=part1)["ETag"]
    copied = s3.upload_part_copy(
        Bucket=bucket,
        Key="joined",
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )
    e2 = copied["CopyPartResult"]["ETag"]
    e3 = s3.upload_part(Bucket=bucket, Key="joined", UploadId=upload_id, PartNumber=3, Body=b"tail")["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="joined", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(1, 5 * MiB), (2, 5 * MiB), (3, 4)]
    page = s3.list_parts(Bucket=bucket, Key="joined", UploadId=upload_id, MaxParts=2)
    assert page["IsTruncated"] is True and page["NextPartNumberMarker"] == 2
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("joined", upload_id)]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="joined",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in ((1, e1), (2, e2), (3, e3))]},
    )
    expected = part1 + source[: 5 * MiB] + b"tail"
    assert done["ETag"] == multipart_etag([part1, source[: 5 * MiB], b"tail"])
    got = s3.get_object(Bucket=bucket, Key="joined")
    assert got["Body"].read() == expected
    assert (
        got["ETag"] == done["ETag"]
        and got["ContentType"] == "application/x-joined"
        and got["Metadata"] == {"m": "1"}
    )
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket=bucket, Key="joined", UploadId=upload_id)
    assert error(caught) == ("NoSuchUpload", 404)


def test_completion_is_checked_as_s3_checks_it(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"too small")[
        "ETag"
    ]
    big = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=2, Body=b"b" * (5 * MiB))[
        "ETag"
    ]

    def complete(parts: list[tuple[int, str]]) -> Any:
        return s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mp",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
        )

    for parts, code in (
        ([(1, small), (2, big)], "EntityTooSmall"),
        ([(2, big), (1, small)], "InvalidPartOrder"),
        ([(1, '"0000"')], "InvalidPart"),
        ([(7, big)], "InvalidPart"),
    ):
        with pytest.raises(ClientError) as caught:
            complete(parts)
        assert error(caught) == (code, 400), parts
    with pytest.raises(ClientError) as caught:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=10001, Body=b"x")
    assert error(caught) == ("InvalidArgument", 400)
    # Part sizes are only judged at completion: a small last part is fine.
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"a" * (5 * MiB))
    e1 = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"][0]["ETag"]
    e3 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=3, Body=b"end")["ETag"]
    complete([(1, e1), (3, e3)])  # part 2 left out: allowed, and dropped
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"a" * (5 * MiB) + b"end"


def test_abort_and_unknown_uploads(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="gone", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert (
        s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=upload_id)["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 204
    )
    for call in (
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=upload_id),
        lambda: s3.upload_part(Bucket=bucket, Key="gone", UploadId=upload_id, PartNumber=1, Body=b"x"),
        lambda: s3.upload_part(Bucket=bucket, Key="other", UploadId="nonexistent", PartNumber=1, Body=b"x"),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert error(caught) == ("NoSuchUpload", 404)
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="gone")


def test_list_multipart_uploads_with_delimiter(s3: Any, bucket: str) -> None:
    ids = {
        key: s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        for key in ("a/1", "a/2", "b", "c")
    }
    reply = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in reply["Uploads"]] == ["b", "c"]
    assert [p["Prefix"] for p in reply["CommonPrefixes"]] == ["a/"]
    page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
    assert [u["Key"] for u in page["Uploads"]] == ["a/1", "a/2"] and page["IsTruncated"] is True
    rest = s3.list_multipart_uploads(
        Bucket=bucket, KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"]
    )
    assert [u["Key"] for u in rest["Uploads"]] == ["b", "c"]
    for key, upload_id in ids.items():
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


@pytest.mark.parametrize("size", [5 * MiB, 5 * MiB + 1, 12 * MiB + 3])
def test_upload_file_and_download_file(s3: Any, bucket: str, tmp_path: Path, size: int) -> None:
    config = TransferConfig(multipart_threshold=5 * MiB + 1, multipart_chunksize=5 * MiB, max_concurrency=4)
    source = tmp_path / "in.bin"
    source.write_bytes(os.urandom(size))
    s3.upload_file(str(source), bucket, "transfer/blob", Config=config)
    head = s3.head_object(Bucket=bucket, Key="transfer/blob")
    assert head["ContentLength"] == size
    parts = -(-size // (5 * MiB))
    if size >= 5 * MiB + 1:  # s3transfer goes multipart at the threshold itself
        chunks = [source.read_bytes()[i : i + 5 * MiB] for i in range(0, size, 5 * MiB)]
        assert head["ETag"] == multipart_etag(chunks) and head["ETag"].endswith(f'-{parts}"')
    else:
        assert head["ETag"] == f'"{hashlib.md5(source.read_bytes()).hexdigest()}"'
    target = tmp_path / "out.bin"
    s3.download_file(bucket, "transfer/blob", str(target), Config=config)
    assert target.read_bytes() == source.read_bytes()
