"""Sagemill's prefix in an external S3 bucket: its key layout, the calls on it, and staging of bodies.

The base of the S3ObjectStore adapter (objectstore/s3.py, whose docstring describes the layout).
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from sagemill.objectstore.base import (
    MAX_KEY_BYTES,
    Expected,
    KeyTooLong,
    NoSuchBucketSpace,
    NoSuchObject,
    ObjectStoreError,
    Readable,
)
from sagemill.objectstore.checksums import Digests, verify
from sagemill.objectstore.external import ExternalS3Config, make_client, translate
from sagemill.objectstore.streams import CHUNK, MeteredReader


@dataclass(frozen=True, slots=True)
class _Staged:
    """A verified body waiting to be placed: in a local spool, or in a temporary external object."""

    digests: Digests
    spool: IO[bytes] | None = None
    temp_key: str | None = None


class S3Prefix:
    """Sagemill's prefix in one external bucket, as S3ObjectStore builds on it; see objectstore/s3.py."""

    def __init__(self, config: ExternalS3Config, client: Any = None) -> None:
        """`client`: a boto3 S3 client to share (stores under several prefixes of one external store)."""
        self.config = config
        self.bucket = config.bucket
        self._root = f"{config.prefix}/" if config.prefix else ""
        self._internal = f"{self._root}.sagemill/"
        self.client: Any = client if client is not None else make_client(config)

    # layout

    def _space(self, bucket: str) -> str:
        if not bucket or "/" in bucket or bucket.startswith("."):
            raise ValueError(f"not a bucket name: {bucket!r}")
        return f"{self._root}{bucket}/"

    def _key(self, bucket: str, key: str) -> str:
        if not key:
            raise ValueError("an empty key would name the bucket space's marker")
        external = self._space(bucket) + key
        if len(external.encode("utf-8")) > MAX_KEY_BYTES:
            raise KeyTooLong(key[:64])
        return external

    def max_key_bytes(self, bucket: str) -> int:
        """The longest key (in UTF-8 bytes) this store holds in `bucket`."""
        return MAX_KEY_BYTES - len(self._space(bucket).encode("utf-8"))

    def _record_key(self, upload_id: str) -> str:
        return f"{self._internal}uploads/{_digest(upload_id)}"

    def _parts_prefix(self, upload_id: str) -> str:
        return f"{self._internal}parts/{_digest(upload_id)}/"

    # calls

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self.client, operation)(Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, operation) from exc
        return response

    def _pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        try:
            yield from self.client.get_paginator(operation).paginate(Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, operation) from exc

    def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self._call("delete_objects", Delete={"Objects": batch, "Quiet": True})

    # staging: verify before anything becomes visible

    @contextmanager
    def _staged(self, body: Readable, expected: Expected, algorithms: tuple[str, ...]) -> Iterator[_Staged]:
        wanted = tuple(dict.fromkeys((*algorithms, *expected.checksums)))
        reader = MeteredReader(body, Digests(wanted), expected.size)
        if expected.size is not None and expected.size > self.config.buffer_size:
            temp = f"{self._internal}tmp/{uuid.uuid4().hex}"
            try:
                self._stream_to(temp, reader, expected)
                verify(reader.digests, expected)
                yield _Staged(reader.digests, temp_key=temp)
            finally:
                # Should this fail, collect_garbage removes it later; the caller's outcome matters more.
                with suppress(ObjectStoreError):
                    self._call("delete_object", Key=temp)
            return
        max_size = self.config.buffer_size
        with tempfile.SpooledTemporaryFile(max_size=max_size, dir=self.config.spool_dir) as spool:
            while chunk := reader.read(CHUNK):
                spool.write(chunk)
            verify(reader.digests, expected)
            spool.seek(0)
            yield _Staged(reader.digests, spool=spool)

    def _stream_to(self, temp: str, reader: MeteredReader, expected: Expected) -> None:
        """PutObject of a body as it arrives; the body's own failure wins over the client's wrapping."""
        params: dict[str, Any] = {"Key": temp, "Body": reader, "ContentLength": expected.size}
        if expected.md5_base64 is not None:
            params["ContentMD5"] = expected.md5_base64
        try:
            self.client.put_object(Bucket=self.bucket, **params)
        except Exception as exc:
            if reader.failure is not None:
                raise reader.failure from None
            if isinstance(exc, (ClientError, BotoCoreError)):
                raise translate(exc, "put_object") from exc
            raise

    # bucket spaces

    def _require_space(self, bucket: str) -> None:
        try:
            self._call("head_object", Key=self._space(bucket))
        except NoSuchObject:
            raise NoSuchBucketSpace(bucket) from None


def _digest(upload_id: str) -> str:
    return hashlib.sha256(upload_id.encode()).hexdigest()[:32]
