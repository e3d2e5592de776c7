"""Strict auth end to end: keys issued by the real CLI, boto3 signing for real, a live server verifying."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from sagemill.security.keyring import KEY_FILE_NAME
from sagemill.testing.live_server import LiveServer

ROLE = "arn:aws:iam::111111111111:role/SagemillStrict"
CONTAINER = {"Image": "111111111111.dkr.ecr.us-east-1.amazonaws.com/strict:1"}


@dataclass(frozen=True)
class KeyPair:
    account_id: str
    user_name: str
    access_key_id: str
    secret_access_key: str


def sagemill(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI, as an operator would, against the server's data directory."""
    return subprocess.run(
        [sys.executable, "-m", "sagemill", "admin", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def issue(data_dir: Path, user_name: str = "") -> KeyPair:
    created = sagemill(data_dir, "create-account", "--name", f"strict-{uuid.uuid4().hex[:6]}")
    assert created.returncode == 0, created.stderr
    account_id = created.stdout.strip()
    args = ["create-access-key", "--account-id", account_id]
    if user_name:
        args += ["--user-name", user_name]
    keyed = sagemill(data_dir, *args)
    assert keyed.returncode == 0, keyed.stderr
    document = json.loads(keyed.stdout)["AccessKey"]
    assert document["AccountId"] == account_id and document["Status"] == "Active"
    return KeyPair(account_id, user_name, document["AccessKeyId"], document["SecretAccessKey"])


def client(
    server: LiveServer, service: str, access_key_id: str, secret: str, region: str = "us-east-1"
) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("strict"), auth="strict").start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def alice(strict: LiveServer) -> KeyPair:
    return issue(strict.data_dir, "alice")


@pytest.fixture(scope="module")
def other(strict: LiveServer) -> KeyPair:
    return issue(strict.data_dir)


def sagemaker_of(server: LiveServer, pair: KeyPair) -> Any:
    return client(server, "sagemaker", pair.access_key_id, pair.secret_access_key)


def error_of(call: Any, **kw: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**kw)
    response: dict[str, Any] = caught.value.response
    return response


def test_issued_key_creates_and_describes_a_model(strict: LiveServer, alice: KeyPair) -> None:
    sm = sagemaker_of(strict, alice)
    name = f"strict-{uuid.uuid4().hex[:8]}"
    created = sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=CONTAINER)
    assert created["ModelArn"] == f"arn:aws:sagemaker:us-east-1:{alice.account_id}:model/{name}"
    described = sm.describe_model(ModelName=name)
    assert described["ModelArn"] == created["ModelArn"]
    assert described["PrimaryContainer"]["Image"] == CONTAINER["Image"]


def test_wrong_secret_is_an_invalid_signature(strict: LiveServer, alice: KeyPair) -> None:
    sm = client(strict, "sagemaker", alice.access_key_id, alice.secret_access_key[::-1])
    response = error_of(sm.list_models)
    assert response["Error"]["Code"] == "InvalidSignatureException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert alice.secret_access_key not in json.dumps(response, default=str)


def test_unknown_key_is_unrecognized(strict: LiveServer) -> None:
    sm = client(strict, "sagemaker", "AKIAUNKNOWNKEY000000", "x" * 40)
    response = error_of(sm.list_models)
    assert response["Error"]["Code"] == "UnrecognizedClientException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_dev_style_key_is_not_an_account_in_strict_mode(strict: LiveServer) -> None:
    sm = client(strict, "sagemaker", "123456789012", "sagemill-test-secret")
    assert error_of(sm.list_models)["Error"]["Code"] == "UnrecognizedClientException"


def test_unsigned_request_is_refused(strict: LiveServer) -> None:
    reply = requests.post(
        f"{strict.url}/",
        data=b"{}",
        headers={"X-Amz-Target": "SageMaker.ListModels", "Content-Type": "application/x-amz-json-1.1"},
        timeout=30,
    )
    assert reply.status_code == 403
    assert reply.json()["__type"] == "MissingAuthenticationTokenException"


def test_accounts_cannot_see_each_others_models(strict: LiveServer, alice: KeyPair, other: KeyPair) -> None:
    mine, theirs = sagemaker_of(strict, alice), sagemaker_of(strict, other)
    name = f"tenant-{uuid.uuid4().hex[:8]}"
    mine.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=CONTAINER)
    response = error_of(theirs.describe_model, ModelName=name)
    assert response["Error"]["Code"] == "ValidationException"
    assert name not in [m["ModelName"] for m in theirs.list_models(MaxResults=100)["Models"]]
    # The same name is free in the other account, and each sees only its own.
    created = theirs.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=CONTAINER)
    assert f":{other.account_id}:" in created["ModelArn"]
    assert f":{alice.account_id}:" in mine.describe_model(ModelName=name)["ModelArn"]
    theirs.delete_model(ModelName=name)
    assert mine.describe_model(ModelName=name)["ModelName"] == name


def test_sts_reports_the_caller(strict: LiveServer, alice: KeyPair, other: KeyPair) -> None:
    identity = client(strict, "sts", alice.access_key_id, alice.secret_access_key).get_caller_identity()
    assert identity["Account"] == alice.account_id
    assert identity["Arn"] == f"arn:aws:iam::{alice.account_id}:user/alice"
    assert identity["UserId"].startswith("AIDA")
    root = client(strict, "sts", other.access_key_id, other.secret_access_key).get_caller_identity()
    assert root["Arn"] == f"arn:aws:iam::{other.account_id}:root"
    assert root["UserId"] == other.account_id


def test_key_file_is_private_and_the_database_holds_no_secret(strict: LiveServer, alice: KeyPair) -> None:
    key_file = strict.data_dir / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = alice.secret_access_key.encode()
    database_files = [p for p in strict.data_dir.iterdir() if p.name.startswith("sagemill.db")]
    assert database_files
    contents = b"".join(path.read_bytes() for path in database_files)  # the main file and its WAL
    assert alice.access_key_id.encode() in contents  # the key row is there, so we looked in the right place
    assert secret not in contents
    assert secret not in strict.log().encode()


def test_cli_refuses_a_key_for_an_unknown_account(strict: LiveServer) -> None:
    result = sagemill(strict.data_dir, "create-access-key", "--account-id", "999999999998")
    assert result.returncode != 0
    assert "no account 999999999998" in result.stderr
    assert result.stdout == ""


def test_cli_asks_for_migration_on_a_fresh_database(tmp_path: Path) -> None:
    result = sagemill(tmp_path / "fresh", "create-account")
    assert result.returncode == 2
    assert "sagemill migrate" in result.stderr


def test_server_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data", auth="strict").start()
    live.stop()
    key_file = live.data_dir / KEY_FILE_NAME
    key_file.chmod(0o644)
    again = LiveServer(live.data_dir, auth="strict")
    with pytest.raises(RuntimeError) as caught:
        again.start(timeout=20)
    assert "chmod 600" in str(caught.value)
