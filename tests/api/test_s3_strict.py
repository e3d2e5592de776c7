"""S3 under strict auth: real signatures over streamed bodies, presigned URLs and virtual-hosted requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
import requests
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from s3_helpers import error_of, unique
from test_auth_strict import KeyPair, issue

from sagemill.testing.live_server import LiveServer


@pytest.fixture(scope="module")
def strict_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, KeyPair]]:
    live = LiveServer(tmp_path_factory.mktemp("strict-s3"), auth="strict").start()
    try:
        yield live, issue(live.data_dir)
    finally:
        live.stop()


def s3_client(server: LiveServer, key: KeyPair, endpoint: str | None = None, **config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint or server.url,
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 1}, **config),
    )


def test_signed_uploads_and_downloads(strict_s3: tuple[LiveServer, KeyPair]) -> None:
    server, key = strict_s3
    s3 = s3_client(server, key)
    bucket = unique("strict")
    s3.create_bucket(Bucket=bucket)
    body = b"strictly signed " * 70_000  # > 1 MiB: streamed, hashed as it arrives
    s3.put_object(Bucket=bucket, Key="dir/object", Body=body)
    assert s3.get_object(Bucket=bucket, Key="dir/object")["Body"].read() == body
    wrong = s3_client(server, KeyPair(key.account_id, "", key.access_key_id, "not-the-secret"))
    with pytest.raises(ClientError) as caught:
        wrong.put_object(Bucket=bucket, Key="dir/object", Body=b"forged")
    assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert s3.get_object(Bucket=bucket, Key="dir/object")["Body"].read() == body


def test_presigned_urls_verify_and_expire(strict_s3: tuple[LiveServer, KeyPair]) -> None:
    server, key = strict_s3
    s3 = s3_client(server, key, signature_version="s3v4")
    bucket = unique("presign")
    s3.create_bucket(Bucket=bucket)
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=60)
    assert requests.put(put, data=b"presigned").status_code == 200
    get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=60)
    assert requests.get(get).content == b"presigned"
    parts = urlsplit(get)
    query = dict(parse_qsl(parts.query))
    query["X-Amz-Signature"] = "0" * 64
    forged = requests.get(urlunsplit(parts._replace(query=urlencode(query))))
    assert forged.status_code == 403 and error_of(forged)[0] == "SignatureDoesNotMatch"


def test_virtual_hosted_style_with_real_signatures(strict_s3: tuple[LiveServer, KeyPair]) -> None:
    """boto3 with addressing_style=virtual signs `/key` for Host `<bucket>.localhost:<port>`."""
    server, key = strict_s3
    client = s3_client(server, key, f"http://localhost:{server.port}", s3={"addressing_style": "virtual"})
    hosts: list[str] = []

    def to_loopback(request: Any, **_: Any) -> AWSResponse:
        # *.localhost does not resolve everywhere: connect to 127.0.0.1, keep the signed Host.
        parts = urlsplit(request.url)
        hosts.append(parts.netloc)
        url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{server.port}"))
        headers = {**dict(request.headers), "Host": parts.netloc}
        body = request.body.read() if hasattr(request.body, "read") else request.body
        reply = requests.request(request.method, url, headers=headers, data=body, stream=True)
        return AWSResponse(request.url, reply.status_code, reply.headers, reply.raw)

    client.meta.events.register("before-send.s3", to_loopback)
    bucket = unique("vhost")
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="a/b c.txt", Body=b"virtual and strict")
    assert client.get_object(Bucket=bucket, Key="a/b c.txt")["Body"].read() == b"virtual and strict"
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["a/b c.txt"]
    assert f"{bucket}.localhost:{server.port}" in hosts
