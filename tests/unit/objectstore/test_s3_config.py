"""The external S3 adapter's configuration and key layout, without a server."""

from __future__ import annotations

import pytest

from sagemill.objectstore.base import KeyTooLong
from sagemill.objectstore.s3 import (
    ENV_ACCESS_KEY_ID,
    ENV_ENDPOINT,
    ENV_REGION,
    ENV_SECRET_ACCESS_KEY,
    ExternalS3Config,
    S3ObjectStore,
)

ENV = {
    ENV_ENDPOINT: "http://minio:9000",
    ENV_REGION: "eu-west-1",
    ENV_ACCESS_KEY_ID: "env-key",
    ENV_SECRET_ACCESS_KEY: "env-secret",
}


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://data", "data", ""),
        ("s3://data/", "data", ""),
        ("s3://data/sagemill", "data", "sagemill"),
        ("s3://data//team/sagemill/", "data", "team/sagemill"),
    ],
)
def test_from_url_splits_bucket_and_prefix(url: str, bucket: str, prefix: str) -> None:
    config = ExternalS3Config.from_url(url, environ={})
    assert (config.bucket, config.prefix) == (bucket, prefix)
    assert config.endpoint_url is config.access_key_id is config.secret_access_key is None


@pytest.mark.parametrize("url", ["http://data/x", "s3:///x", "s3://data/x?versioning=1", "data/x"])
def test_from_url_refuses_what_is_not_an_s3_url(url: str) -> None:
    with pytest.raises(ValueError):
        ExternalS3Config.from_url(url, environ={})


def test_environment_fills_in_what_is_not_passed() -> None:
    config = ExternalS3Config.from_url("s3://data/p", environ=ENV)
    assert config.endpoint_url == "http://minio:9000"
    assert config.region == "eu-west-1"
    assert (config.access_key_id, config.secret_access_key) == ("env-key", "env-secret")
    explicit = ExternalS3Config.from_url(
        "s3://data/p",
        endpoint_url="http://ceph:7480",
        region="us-west-2",
        access_key_id="key",
        secret_access_key="secret",
        environ=ENV,
        buffer_size=1024,
    )
    assert (explicit.endpoint_url, explicit.region) == ("http://ceph:7480", "us-west-2")
    assert (explicit.access_key_id, explicit.secret_access_key, explicit.buffer_size) == (
        "key",
        "secret",
        1024,
    )


def test_the_secret_stays_out_of_reprs() -> None:
    config = ExternalS3Config.from_url("s3://data", environ=ENV)
    assert "env-secret" not in repr(config)


def test_layout_spends_the_prefix_on_the_key_limit() -> None:
    store = S3ObjectStore(ExternalS3Config("data", "team/sagemill"), client=object())
    assert store.max_key_bytes("models") == 1024 - len("team/sagemill/models/")
    unprefixed = S3ObjectStore(ExternalS3Config("data"), client=object())
    assert unprefixed.max_key_bytes("models") == 1024 - len("models/")
    with pytest.raises(KeyTooLong):
        store.put_object("models", "k" * 1004, None, None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("bucket", ["", ".sagemill", "a/b"])
def test_names_that_could_escape_a_bucket_space_are_refused(bucket: str) -> None:
    store = S3ObjectStore(ExternalS3Config("data", "p"), client=object())
    with pytest.raises(ValueError):
        store.bucket_is_empty(bucket)
