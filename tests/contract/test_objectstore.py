"""The ObjectStore contract on the filesystem adapter and on the external S3 adapter (against moto)."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from sagemill.objectstore.base import MAX_KEY_BYTES, Expected, ObjectMeta
from sagemill.objectstore.filesystem import FilesystemObjectStore
from sagemill.objectstore.s3 import ExternalS3Config, S3ObjectStore, make_client
from sagemill.testing.objectstore_contract import BUCKET, ObjectStoreContract, moto_s3_server

EXTERNAL_BUCKET = "sagemill-external"


class TestFilesystemObjectStore(ObjectStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[FilesystemObjectStore]:
        store = FilesystemObjectStore(tmp_path / "objects")
        yield store
        store.close()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_s3_server() as endpoint:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_bucket(Bucket=EXTERNAL_BUCKET)
        yield endpoint


def prefix_for_test() -> str:
    return f"t/{uuid.uuid4().hex}"


def config_for(endpoint: str, prefix: str) -> ExternalS3Config:
    return ExternalS3Config.from_url(
        f"s3://{EXTERNAL_BUCKET}/{prefix}",
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
    )


@pytest.fixture(scope="session")
def external_client(moto_endpoint: str) -> Any:
    """One client for every test's store: making a boto3 client costs more than most tests."""
    return make_client(config_for(moto_endpoint, ""))


class TestS3ObjectStore(ObjectStoreContract):
    # Each test writes under its own prefix, which the external key spends part of S3's 1024 bytes on.
    max_key_bytes = MAX_KEY_BYTES - len(f"{prefix_for_test()}/{BUCKET}/")

    @pytest.fixture
    def store(self, moto_endpoint: str, external_client: Any) -> S3ObjectStore:
        store = S3ObjectStore(config_for(moto_endpoint, prefix_for_test()), external_client)
        assert store.max_key_bytes(BUCKET) == self.max_key_bytes
        return store


# The external adapter's crash safety: a Sagemill process killed (SIGKILL) at a step of a write.
CRASHING_WRITER = """
import os, signal, sys, time
from sagemill.objectstore.base import Expected, ObjectMeta
from sagemill.objectstore.s3 import ExternalS3Config, S3ObjectStore

endpoint, prefix, step = sys.argv[1:]
store = S3ObjectStore(ExternalS3Config.from_url(
    f"s3://sagemill-external/{prefix}", endpoint_url=endpoint, region="us-east-1",
    access_key_id="testing", secret_access_key="testing"))
call = store._call

def crash_at(operation, **params):
    if operation == step or (step == "record" and params.get("Key", "").find("/uploads/") > 0):
        os.kill(os.getpid(), signal.SIGKILL)
    return call(operation, **params)

store._call = crash_at
size = 12 << 20

class Body:
    sent = 0
    def read(self, n=-1):
        if step == "mid-body" and self.sent >= size // 2:
            print("stalled", flush=True)
            time.sleep(60)
        n = min(n if n >= 0 else size, size - self.sent, 1 << 20)
        self.sent += n
        return b"n" * n

if step == "record":
    store.create_upload("b", "k", ObjectMeta())
else:
    store.put_object("b", "k", Body(), ObjectMeta(), Expected(size=size))
print("survived", flush=True)
"""


def crash_writer(endpoint: str, prefix: str, step: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, endpoint, prefix, step], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    if step == "mid-body":
        assert child.stdout.readline().strip() == "stalled"
        child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, child.stdout.read()


def all_external_keys(client: Any, prefix: str) -> list[str]:
    found = client.list_objects_v2(Bucket=EXTERNAL_BUCKET, Prefix=f"{prefix}/").get("Contents", [])
    return [item["Key"] for item in found]


@pytest.mark.parametrize("step", ["mid-body", "copy_object"])
def test_a_crashed_external_write_leaves_nothing_at_the_key(
    moto_endpoint: str, external_client: Any, step: str
) -> None:
    prefix = prefix_for_test()
    store = S3ObjectStore(config_for(moto_endpoint, prefix), external_client)
    store.create_bucket_space("b")
    store.put_object("b", "k", io.BytesIO(b"old"), ObjectMeta(), Expected(size=3))
    crash_writer(moto_endpoint, prefix, step)
    _, chunks = store.open_object("b", "k")
    assert b"".join(chunks) == b"old"
    temps = [k for k in all_external_keys(external_client, prefix) if "/.sagemill/tmp/" in k]
    # Killed mid-body, the temporary PutObject never completed; killed before the copy, it did.
    assert len(temps) == (1 if step == "copy_object" else 0)
    assert store.collect_garbage(older_than=3600) == 0  # too young: could be another process's
    assert store.collect_garbage(older_than=-5) == len(temps)
    assert all_external_keys(external_client, prefix) == [f"{prefix}/b/", f"{prefix}/b/k"]


def test_an_upload_whose_record_was_never_written_is_hidden_then_aborted(
    moto_endpoint: str, external_client: Any
) -> None:
    prefix = prefix_for_test()
    store = S3ObjectStore(config_for(moto_endpoint, prefix), external_client)
    store.create_bucket_space("b")
    crash_writer(moto_endpoint, prefix, "record")

    def external_uploads() -> list[dict[str, Any]]:
        page = external_client.list_multipart_uploads(Bucket=EXTERNAL_BUCKET, Prefix=f"{prefix}/")
        uploads: list[dict[str, Any]] = page.get("Uploads", [])
        return uploads

    assert len(external_uploads()) == 1
    assert store.list_uploads("b") == []
    assert store.collect_garbage(older_than=-5) == 1
    assert external_uploads() == []


def test_garbage_collection_removes_records_of_vanished_uploads(
    moto_endpoint: str, external_client: Any
) -> None:
    prefix = prefix_for_test()
    store = S3ObjectStore(config_for(moto_endpoint, prefix), external_client)
    store.create_bucket_space("b")
    upload = store.create_upload("b", "k", ObjectMeta(), checksum_algorithm="CRC32")
    store.put_part(upload.upload_id, 1, io.BytesIO(b"part"), Expected())
    # A lifecycle rule (or another tool) aborts the upload behind Sagemill's back.
    external_client.abort_multipart_upload(
        Bucket=EXTERNAL_BUCKET, Key=f"{prefix}/b/k", UploadId=upload.upload_id
    )
    assert store.collect_garbage(older_than=-5) == 2  # the record and the part's checksums
    assert store.get_upload(upload.upload_id) is None
    assert all_external_keys(external_client, prefix) == [f"{prefix}/b/"]


def test_objects_written_straight_into_the_external_store_read_back(
    moto_endpoint: str, external_client: Any
) -> None:
    prefix = prefix_for_test()
    store = S3ObjectStore(config_for(moto_endpoint, prefix), external_client)
    store.create_bucket_space("b")
    external_client.put_object(
        Bucket=EXTERNAL_BUCKET,
        Key=f"{prefix}/b/foreign",
        Body=b"hi",
        ContentType="text/x",
        Metadata={"a": "1"},
    )
    info = store.head_object("b", "foreign")
    assert info is not None
    assert (info.size, info.meta, info.checksums) == (2, ObjectMeta("text/x", {"a": "1"}, {}), {})
