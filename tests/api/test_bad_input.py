"""Malformed, oversized, unsigned and invalid requests get AWS-shaped errors and leave stored state alone."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from botocore.exceptions import ClientError
from requests.structures import CaseInsensitiveDict
from signing import JSON_11, assert_no_leak, json_error, sagemaker_headers, sign

from sagemill.aws.gateway import DEFAULT_MAX_BODY_BYTES
from sagemill.aws.specs import service_model
from sagemill.testing.live_server import LiveServer

ROLE = "arn:aws:iam::123456789012:role/SagemillBadInput"
CONTAINER = {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/bad-input:1", "Environment": {"A": "1"}}
MODEL_NAME_PATTERN = service_model("sagemaker").shape_for("ModelName").metadata["pattern"]


def _create_body(name: str, **overrides: Any) -> dict[str, Any]:
    return {"ModelName": name, "ExecutionRoleArn": ROLE, "PrimaryContainer": CONTAINER, **overrides}


def _probe_name() -> str:
    return f"bad-input-probe-{uuid.uuid4().hex[:12]}"


def _post(server: LiveServer, operation: str, body: bytes, **kw: Any) -> requests.Response:
    headers = sagemaker_headers(f"{server.url}/", operation, body, **kw)
    return requests.post(f"{server.url}/", data=body, headers=headers, timeout=30)


def _expect(response: requests.Response, code: str, status: int = 400) -> dict[str, Any]:
    result: dict[str, Any] = json_error(
        response.status_code, response.headers, response.content, code, status
    )
    return result


def _snapshot(client: Any, sentinel: str) -> dict[str, Any]:
    names = sorted(
        model["ModelName"]
        for page in client.get_paginator("list_models").paginate()
        for model in page["Models"]
    )
    described = client.describe_model(ModelName=sentinel)
    described.pop("ResponseMetadata")
    tags = client.list_tags(ResourceArn=described["ModelArn"])["Tags"]
    return {"names": names, "sentinel": described, "tags": tags}


@pytest.fixture(scope="module")
def sentinel(server: LiveServer) -> str:
    """A model that exists before every bad request and must describe identically after it."""
    name = f"bad-input-sentinel-{uuid.uuid4().hex[:8]}"
    server.client("sagemaker").create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer=CONTAINER,
        Tags=[{"Key": "team", "Value": "wire"}, {"Key": "purpose", "Value": "sentinel"}],
    )
    return name


@pytest.fixture(autouse=True)
def untouched(server: LiveServer, sentinel: str) -> Iterator[None]:
    """Stored state is identical before and after each test's bad requests, and the server still runs."""
    client = server.client("sagemaker")
    before = _snapshot(client, sentinel)
    yield
    assert server.process is not None and server.process.poll() is None, server.log()[-4000:]
    assert _snapshot(client, sentinel) == before


def _assert_absent(server: LiveServer, name: str) -> None:
    with pytest.raises(ClientError) as caught:
        server.client("sagemaker").describe_model(ModelName=name)
    assert caught.value.response["Error"]["Code"] == "ValidationException"


# -- raw sockets, for bodies that requests cannot send ----------------------------------------------------


def _head(server: LiveServer, headers: dict[str, str], framing: str) -> bytes:
    lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{server.port}", framing]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "content-length"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read_response(sock: socket.socket) -> tuple[int, CaseInsensitiveDict[str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return int(status_line.split(" ")[1]), headers, body[:length]


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


# -- the body cannot be decoded ---------------------------------------------------------------------------


def test_malformed_json_body(server: LiveServer) -> None:
    name = _probe_name()
    body = json.dumps(_create_body(name)).encode()[:-7]
    _expect(_post(server, "CreateModel", body), "SerializationException")
    _assert_absent(server, name)


@pytest.mark.parametrize("body", [b"[]", b'[{"ModelName": "x"}]', b'"CreateModel"', b"42", b"null", b"true"])
def test_body_that_is_not_a_json_object(server: LiveServer, body: bytes) -> None:
    document = _expect(_post(server, "CreateModel", body), "SerializationException")
    assert "object" in document["message"]


@pytest.mark.parametrize("content_type", ["text/plain", None])
def test_wrong_or_missing_content_type(server: LiveServer, content_type: str | None) -> None:
    name = _probe_name()
    body = json.dumps(_create_body(name)).encode()
    response = _post(server, "CreateModel", body, content_type=content_type)
    document = _expect(response, "SerializationException")
    assert "Content-Type" in document["message"]
    _assert_absent(server, name)


def test_non_utf8_bytes_in_the_body(server: LiveServer) -> None:
    body = b'{"MaxResults": 5}\x80\xfe\xff'
    document = _expect(_post(server, "ListModels", body), "SerializationException")
    assert "UTF-8" in document["message"]


def test_non_utf8_bytes_in_a_string_value(server: LiveServer) -> None:
    name = _probe_name()
    body = json.dumps(_create_body(name + "-XX")).encode().replace(b"-XX", b"-\xc3\x28")
    document = _expect(_post(server, "CreateModel", body), "SerializationException")
    assert "UTF-8" in document["message"]
    _assert_absent(server, name)


@pytest.mark.parametrize(
    "overrides",
    [
        {"ModelName": 12345},
        {"ModelName": ["a-list"]},
        {"PrimaryContainer": "not-a-structure"},
        {"Tags": {"Key": "a", "Value": "b"}},
        {"EnableNetworkIsolation": "yes"},
    ],
    ids=["name-number", "name-list", "container-string", "tags-object", "bool-string"],
)
def test_wrong_member_types(server: LiveServer, overrides: dict[str, Any]) -> None:
    name = _probe_name()
    body = json.dumps(_create_body(name, **overrides)).encode()
    _expect(_post(server, "CreateModel", body), "SerializationException")
    _assert_absent(server, name)


# -- the model's constraints ------------------------------------------------------------------------------


def test_constraint_violation_is_worded_as_aws_words_it(server: LiveServer) -> None:
    body = json.dumps(_create_body("bad name!")).encode()
    document = _expect(_post(server, "CreateModel", body), "ValidationException")
    assert document["message"] == (
        "1 validation error detected: Value 'bad name!' at 'modelName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {MODEL_NAME_PATTERN}"
    )


def test_several_violations_are_counted_and_listed(server: LiveServer) -> None:
    body = json.dumps(_create_body("bad name!", ExecutionRoleArn="bad")).encode()
    message = _expect(_post(server, "CreateModel", body), "ValidationException")["message"]
    assert message.startswith("3 validation errors detected: Value 'bad name!' at 'modelName' ")
    problems = message.split(": ", 1)[1].split("; ")
    assert len(problems) == 3
    assert all(
        p.startswith("Value ") and " failed to satisfy constraint: Member must " in p for p in problems
    )
    assert (
        "Value 'bad' at 'executionRoleArn' failed to satisfy constraint: "
        "Member must have length greater than or equal to 20"
    ) in problems


def test_many_violations_keep_an_exact_count(server: LiveServer) -> None:
    name = _probe_name()
    tags = [{"Key": f"{i:02d}" + "k" * 130, "Value": "v"} for i in range(12)]
    body = json.dumps(_create_body(name, Tags=tags)).encode()
    message = _expect(_post(server, "CreateModel", body), "ValidationException")["message"]
    assert message.startswith("12 validation errors detected: ")
    assert (
        "at 'tags.1.member.key' failed to satisfy constraint: "
        "Member must have length less than or equal to 128"
    ) in message
    assert message.count("failed to satisfy constraint") == 10
    _assert_absent(server, name)


def test_missing_required_member(server: LiveServer) -> None:
    body = json.dumps({"ExecutionRoleArn": ROLE, "PrimaryContainer": CONTAINER}).encode()
    document = _expect(_post(server, "CreateModel", body), "ValidationException")
    assert document["message"] == (
        "1 validation error detected: Value null at 'modelName' failed to satisfy constraint: "
        "Member must not be null"
    )


# -- the operation or service cannot be found -------------------------------------------------------------


def test_unknown_operation(server: LiveServer) -> None:
    document = _expect(_post(server, "NoSuchOp", b"{}"), "UnknownOperationException")
    assert "NoSuchOp" in document["message"]


@pytest.mark.parametrize("target", ["Logs_20140328.ListModels", "SageMakerX.ListModels", "ListModels", "."])
def test_wrong_target_prefix(server: LiveServer, target: str) -> None:
    _expect(_post(server, "ListModels", b"{}", target=target), "UnknownOperationException")


def test_unknown_service_json(server: LiveServer) -> None:
    response = _post(server, "ListModels", b"{}", service="nosuch")
    document = _expect(response, "UnknownServiceException")
    assert "nosuch" in document["message"]


def test_unknown_service_query_style(server: LiveServer) -> None:
    body = b"Action=ListThings&Version=2099-01-01"
    headers = sign(
        "POST",
        f"{server.url}/",
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        body,
        service="nosuch",
    )
    response = requests.post(f"{server.url}/", data=body, headers=headers, timeout=30)
    assert response.status_code == 400
    assert response.headers.get("x-amzn-RequestId")
    assert response.headers["Content-Type"].startswith("text/xml")
    assert_no_leak(response.content)
    root = ElementTree.fromstring(response.content)
    assert root.tag == "ErrorResponse"
    assert root.findtext("Error/Code") == "UnknownServiceException"
    assert root.findtext("Error/Type") == "Sender"
    assert (root.findtext("Error/Message") or "").strip()
    assert root.findtext("RequestId") == response.headers["x-amzn-RequestId"]


# -- authentication ---------------------------------------------------------------------------------------


def test_missing_authorization(server: LiveServer) -> None:
    name = _probe_name()
    body = json.dumps(_create_body(name)).encode()
    headers = {"X-Amz-Target": "SageMaker.CreateModel", "Content-Type": JSON_11}
    response = requests.post(f"{server.url}/", data=body, headers=headers, timeout=30)
    _expect(response, "MissingAuthenticationTokenException", 403)
    _assert_absent(server, name)


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 garbage",
        "Basic abc",
        "AWS4-HMAC-SHA256 Credential=123456789012/20240101/us-east-1/sagemaker/aws4_request, "
        "SignedHeaders=host, Signature=not-hex",
        "AWS4-HMAC-SHA256 Credential=123456789012/us-east-1/sagemaker/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256",
    ],
    ids=["garbage", "basic", "bad-signature", "short-credential", "algorithm-only"],
)
def test_garbled_authorization(server: LiveServer, authorization: str) -> None:
    name = _probe_name()
    body = json.dumps(_create_body(name)).encode()
    headers = {
        "X-Amz-Target": "SageMaker.CreateModel",
        "Content-Type": JSON_11,
        "Authorization": authorization,
    }
    response = requests.post(f"{server.url}/", data=body, headers=headers, timeout=30)
    _expect(response, "IncompleteSignatureException", 403)
    _assert_absent(server, name)


# -- broken framing ---------------------------------------------------------------------------------------


def test_truncated_body_then_the_server_still_answers(server: LiveServer) -> None:
    name = _probe_name()
    body = json.dumps(_create_body(name)).encode()
    headers = sagemaker_headers(f"{server.url}/", "CreateModel", body)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_head(server, headers, f"Content-Length: {len(body) + 100}") + body)
    # The client went away mid-body: nothing may be stored, and the next caller is served.
    again = _post(server, "DescribeModel", json.dumps({"ModelName": name}).encode())
    _expect(again, "ValidationException")
    listed = _post(server, "ListModels", b"{}")
    assert listed.status_code == 200, listed.content
    assert listed.headers.get("x-amzn-RequestId")
    assert isinstance(listed.json()["Models"], list)


def test_declared_content_length_over_the_limit(server: LiveServer) -> None:
    headers = sagemaker_headers(f"{server.url}/", "ListModels", b"{}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_head(server, headers, f"Content-Length: {DEFAULT_MAX_BODY_BYTES + 1}"))
        status, response_headers, body = _read_response(sock)
        json_error(status, response_headers, body, "RequestEntityTooLarge", 413)
        assert str(DEFAULT_MAX_BODY_BYTES) in json.loads(body)["message"]
        assert response_headers.get("Connection", "").lower() == "close"
        assert _closed_by_server(sock)


def test_chunked_body_over_the_limit(server: LiveServer) -> None:
    headers = sagemaker_headers(f"{server.url}/", "ListModels", b"{}")
    piece = b" " * (1 << 20)
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_head(server, headers, "Transfer-Encoding: chunked"))
        for _ in range(DEFAULT_MAX_BODY_BYTES // len(piece)):
            sock.sendall(chunk)
        sock.sendall(b"1\r\n ")  # one byte past the limit; the rest of the stream never comes
        status, response_headers, body = _read_response(sock)
        json_error(status, response_headers, body, "RequestEntityTooLarge", 413)
        # The server stops reading an unbounded stream instead of draining it.
        assert response_headers.get("Connection", "").lower() == "close"
        assert _closed_by_server(sock)


def test_chunked_body_under_the_limit_is_accepted(server: LiveServer) -> None:
    body = b'{"MaxResults": 3}'
    headers = sagemaker_headers(f"{server.url}/", "ListModels", body)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        framed = b"".join(b"%x\r\n%s\r\n" % (1, body[i : i + 1]) for i in range(len(body))) + b"0\r\n\r\n"
        sock.sendall(_head(server, headers, "Transfer-Encoding: chunked") + framed)
        status, response_headers, answer = _read_response(sock)
    assert status == 200, answer
    assert response_headers.get("x-amzn-RequestId")
    assert len(json.loads(answer)["Models"]) <= 3
