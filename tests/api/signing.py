"""Raw HTTP helpers for API tests: SigV4-sign arbitrary requests and check AWS-shaped error replies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCOUNT = "123456789012"
CREDENTIALS = Credentials(ACCOUNT, "sagemill-test-secret")
JSON_11 = "application/x-amz-json-1.1"


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    service: str = "sagemaker",
    region: str = "us-east-1",
    access_key: str = ACCOUNT,
) -> dict[str, str]:
    """`headers` plus a valid SigV4 Authorization (and X-Amz-Date) for exactly this request."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials(access_key, "sagemill-test-secret"), service, region).add_auth(request)
    return dict(request.headers.items())


def sagemaker_headers(
    url: str,
    operation: str,
    body: bytes,
    *,
    content_type: str | None = JSON_11,
    target: str | None = None,
    service: str = "sagemaker",
) -> dict[str, str]:
    """Signed headers for a SageMaker JSON call, with the Content-Type and X-Amz-Target overridable."""
    headers = {"X-Amz-Target": target if target is not None else f"SageMaker.{operation}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return sign("POST", url, headers, body, service=service)


def assert_no_leak(body: bytes) -> None:
    """No Python traceback, file path or HTML page in an answer."""
    text = body.decode("utf-8", "replace")
    lowered = text.lower()
    assert "traceback" not in lowered, text
    assert 'file "' not in lowered, text
    assert "<html" not in lowered and "<!doctype" not in lowered, text


def json_error(status: int, headers: Mapping[str, str], body: bytes, code: str, expected_status: int) -> Any:
    """Check an AWS JSON error reply and return its decoded body."""
    assert status == expected_status, (status, body)
    assert headers.get("x-amzn-RequestId"), dict(headers)
    assert_no_leak(body)
    assert headers.get("Content-Type", "").startswith("application/x-amz-json-"), dict(headers)
    document = json.loads(body)
    assert isinstance(document, dict), document
    assert document.get("__type") == code, document
    assert isinstance(document.get("message"), str) and document["message"].strip(), document
    return document
