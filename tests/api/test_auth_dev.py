"""Dev auth end to end: the access key picks the account, the scope picks the region, unsigned is refused."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from sagemill.testing.live_server import LiveServer

ROLE = "arn:aws:iam::123456789012:role/SagemillDevAuth"
CONTAINER = {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dev-auth:1"}
JSON_11 = "application/x-amz-json-1.1"


def create_model(client: Any, name: str | None = None) -> tuple[str, str]:
    name = name or f"dev-auth-{uuid.uuid4().hex[:8]}"
    arn = client.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=CONTAINER)["ModelArn"]
    return name, arn


def arn_account_and_region(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[4], parts[3]


def test_twelve_digit_access_key_is_the_account(server: LiveServer) -> None:
    _, arn = create_model(server.client("sagemaker", account="210987654321"))
    assert arn_account_and_region(arn) == ("210987654321", "us-east-1")


@pytest.mark.parametrize("access_key", ["AKIAIOSFODNN7EXAMPLE", "test", "12345678901", "1234567890123"])
def test_other_access_keys_use_the_default_account(server: LiveServer, access_key: str) -> None:
    _, arn = create_model(server.client("sagemaker", account=access_key))
    assert arn_account_and_region(arn)[0] == "000000000000"


def test_region_comes_from_the_credential_scope(server: LiveServer) -> None:
    eu = server.client("sagemaker", account="210987654321", region="eu-west-1")
    name, arn = create_model(eu)
    assert arn_account_and_region(arn) == ("210987654321", "eu-west-1")
    # Resources are regional: the same account in another region does not see it.
    us = server.client("sagemaker", account="210987654321", region="us-east-1")
    with pytest.raises(ClientError) as caught:
        us.describe_model(ModelName=name)
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_two_accounts_are_isolated(server: LiveServer) -> None:
    first = server.client("sagemaker", account="111111111111")
    second = server.client("sagemaker", account="222222222222")
    name, _ = create_model(first)
    with pytest.raises(ClientError) as caught:
        second.describe_model(ModelName=name)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert name not in [m["ModelName"] for m in second.list_models(MaxResults=100)["Models"]]
    _, arn = create_model(second, name)  # the name is free in the other account
    assert arn_account_and_region(arn)[0] == "222222222222"
    second.delete_model(ModelName=name)
    assert first.describe_model(ModelName=name)["ModelName"] == name


def post(server: LiveServer, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{server.url}/",
        data=b"{}",
        headers={"X-Amz-Target": "SageMaker.ListModels", "Content-Type": JSON_11, **headers},
        timeout=30,
    )


def expect_json_error(reply: requests.Response, code: str, statuses: tuple[int, ...] = (403,)) -> None:
    assert reply.status_code in statuses, (reply.status_code, reply.text)
    assert reply.headers["Content-Type"].startswith("application/x-amz-json-"), reply.headers
    assert reply.headers.get("x-amzn-RequestId")
    document = reply.json()
    assert document["__type"].rpartition("#")[2] == code, document
    assert document.get("message") or document.get("Message"), document
    assert "Traceback" not in reply.text


def test_no_authorization_is_missing_authentication_token(server: LiveServer) -> None:
    expect_json_error(post(server, {}), "MissingAuthenticationTokenException")


@pytest.mark.parametrize(
    "authorization",
    [
        "garbage",
        "AWS4-HMAC-SHA256 garbage",
        "AWS4-HMAC-SHA256 Credential=123456789012/20240101/us-east-1/sagemaker/aws4_request",
        "AWS4-HMAC-SHA256 Credential=123456789012/2024/us-east-1/sagemaker/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=123456789012/20240101/us-east-1/sagemaker/aws4_request, "
        "SignedHeaders=host, Signature=nothex",
        "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
    ],
)
def test_garbled_authorization_is_an_aws_shaped_error(server: LiveServer, authorization: str) -> None:
    expect_json_error(
        post(server, {"Authorization": authorization}), "IncompleteSignatureException", (400, 403)
    )
