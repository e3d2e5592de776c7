"""How Sagemill reaches an external S3-compatible store: configuration, client, errors, metadata.

The S3ObjectStore adapter (objectstore/s3.py) is built on these; they know nothing of its key layout.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from sagemill.objectstore.base import (
    ChecksumMismatch,
    EntityTooSmall,
    InvalidPart,
    InvalidPartOrder,
    KeyTooLong,
    NoSuchObject,
    NoSuchUpload,
    ObjectInfo,
    ObjectMeta,
    ObjectStoreError,
)
from sagemill.objectstore.streams import CHUNK

ENV_ENDPOINT = "SAGEMILL_OBJECT_STORE_ENDPOINT"
ENV_REGION = "SAGEMILL_OBJECT_STORE_REGION"
ENV_ACCESS_KEY_ID = "SAGEMILL_OBJECT_STORE_ACCESS_KEY_ID"
ENV_SECRET_ACCESS_KEY = "SAGEMILL_OBJECT_STORE_SECRET_ACCESS_KEY"

MiB = 1024 * 1024
_META_ENTRY = "sagemill"
_MULTIPART_ETAG = re.compile(r'"?[0-9a-fA-F]+-(\d+)"?')
_ERRORS: dict[str, type[ObjectStoreError]] = {
    "NoSuchUpload": NoSuchUpload,
    "InvalidPart": InvalidPart,
    "InvalidPartOrder": InvalidPartOrder,
    "EntityTooSmall": EntityTooSmall,
    "KeyTooLongError": KeyTooLong,
    "NoSuchKey": NoSuchObject,
    "NotFound": NoSuchObject,
    "404": NoSuchObject,
}


class ExternalStoreError(ObjectStoreError):
    """The external store refused or failed a request the port has no word for."""


@dataclass(frozen=True, slots=True)
class ExternalS3Config:
    """Where the external store is and how to reach it.

    Sagemill bucket `b`, key `k` live at external key `<prefix>/b/k` in `bucket` (`b/k` without a
    prefix). Credentials left None fall through to boto3's chain (AWS_* variables, profiles, roles).
    """

    bucket: str
    """The external bucket; it must exist (Sagemill does not create it)."""
    prefix: str = ""
    """Key prefix without surrounding slashes; Sagemill owns everything under it."""
    endpoint_url: str | None = None
    """MinIO's or Ceph's URL; None for AWS S3."""
    region: str | None = None
    """None: us-east-1, MinIO's and Ceph's default."""
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    buffer_size: int = 8 * MiB
    """Bodies up to this size are verified in a local spool; larger ones via a temporary key."""
    spool_dir: str | None = None
    """Where a spool past `buffer_size` goes on disk (bodies of unknown size); None: the system's."""
    max_connections: int = 32
    """Connections kept open to the store: about the number of requests served at once."""

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> ExternalS3Config:
        """Parse `s3://bucket/prefix`; unset arguments fall back to the SAGEMILL_OBJECT_STORE_* variables."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"expected s3://<bucket>/<optional-prefix>, got {url!r}")
        env = os.environ if environ is None else environ
        return cls(
            bucket=parts.netloc,
            prefix=parts.path.strip("/"),
            endpoint_url=endpoint_url or env.get(ENV_ENDPOINT) or None,
            region=region or env.get(ENV_REGION) or None,
            access_key_id=access_key_id or env.get(ENV_ACCESS_KEY_ID) or None,
            secret_access_key=secret_access_key or env.get(ENV_SECRET_ACCESS_KEY) or None,
            **options,
        )


class BodyChunks:
    """A GetObject body as an iterator of chunks that releases its connection when done."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self._chunks: Iterator[bytes] = body.iter_chunks(CHUNK)

    def __iter__(self) -> BodyChunks:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._body.close()


def make_client(config: ExternalS3Config) -> Any:
    """A boto3 S3 client set up as the adapter needs it (see the comments for why)."""
    settings = Config(
        region_name=config.region or "us-east-1",
        # Path-style requests: MinIO and Ceph behind one host name seldom have wildcard DNS.
        s3={
            "addressing_style": "path" if config.endpoint_url else "auto",
            # Bodies stream through once, unseekable; signing them would need a second pass.
            # Our own digests, Content-MD5 and TLS guard them instead.
            "payload_signing_enabled": False,
        },
        # We compute and verify every checksum ourselves (some stores lack CRC32C and friends);
        # botocore's own would need seekable bodies and trailers not every store accepts.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=config.max_connections,
        retries={"mode": "standard", "max_attempts": 3},
    )
    # A session of our own: boto3's default session is not safe to share across threads.
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=config.endpoint_url,
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=config.secret_access_key,
        aws_session_token=config.session_token,
        config=settings,
    )


def error_code(exc: BaseException | None) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def translate(exc: Exception, operation: str) -> ObjectStoreError:
    code = error_code(exc)
    if code in ("BadDigest", "InvalidDigest"):
        return ChecksumMismatch("MD5")
    kind = _ERRORS.get(code, ExternalStoreError)
    return kind(f"{operation}: {exc}")


def parts_count(etag: str) -> int | None:
    match = _MULTIPART_ETAG.fullmatch(etag)
    return int(match.group(1)) if match else None


def meta_dict(meta: ObjectMeta) -> dict[str, Any]:
    return {"content_type": meta.content_type, "user": meta.user_metadata, "headers": meta.headers}


def meta_from_dict(data: dict[str, Any]) -> ObjectMeta:
    return ObjectMeta(data["content_type"], data["user"], data["headers"])


def encode_meta(meta: ObjectMeta, checksums: dict[str, str]) -> dict[str, str]:
    # ensure_ascii: header values must be ASCII to survive every store unchanged.
    entry = {**meta_dict(meta), "checksums": checksums}
    return {_META_ENTRY: json.dumps(entry, ensure_ascii=True, separators=(",", ":"))}


def object_info(bucket: str, key: str, response: dict[str, Any], size: int) -> ObjectInfo:
    etag = response["ETag"]
    modified = response["LastModified"].timestamp()
    metadata: dict[str, str] = response.get("Metadata", {})
    entry = metadata.get(_META_ENTRY)
    if entry is None:
        # Written by someone else straight into the external store: take what S3 says.
        meta = ObjectMeta(response.get("ContentType", "binary/octet-stream"), dict(metadata), {})
        return ObjectInfo(bucket, key, size, etag, modified, meta, {}, parts_count(etag))
    data = json.loads(entry)
    meta = meta_from_dict(data)
    return ObjectInfo(bucket, key, size, etag, modified, meta, data["checksums"], parts_count(etag))
