"""Requests are routed by credential scope, then X-Amz-Target, then path."""

from __future__ import annotations

import pytest

from sagemill.aws.errors import ServiceError
from sagemill.aws.request import AwsRequest
from sagemill.aws.routing import route


def request(
    auth_service: str | None, *, target: str = "", path: str = "/", body: bytes = b"", ctype: str = ""
) -> AwsRequest:
    headers: dict[str, str] = {}
    if auth_service:
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential=AKID/20261124/eu-west-1/{auth_service}/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
        )
    if target:
        headers["x-amz-target"] = target
    if ctype:
        headers["content-type"] = ctype
    return AwsRequest("POST", path, "", headers, body)


def test_sagemaker_control_plane_by_target() -> None:
    found = route(request("sagemaker", target="SageMaker.CreateModel"))
    assert (found.service, found.protocol, found.region) == ("sagemaker", "json", "eu-west-1")


def test_sagemaker_runtime_by_path() -> None:
    found = route(request("sagemaker", path="/endpoints/ep/invocations"))
    assert (found.service, found.protocol) == ("sagemaker-runtime", "rest-json")


def test_cloudwatch_speaks_json_or_query() -> None:
    assert route(request("monitoring", target="GraniteServiceVersion20100801.ListMetrics")).protocol == "json"
    form = route(
        request(
            "monitoring",
            body=b"Action=ListMetrics&Version=2010-08-01",
            ctype="application/x-www-form-urlencoded",
        )
    )
    assert (form.service, form.protocol) == ("cloudwatch", "query")


def test_unsigned_requests_are_routed_for_a_proper_error() -> None:
    assert route(request(None, target="SageMaker.ListModels")).service == "sagemaker"
    sts = route(
        request(
            None,
            body=b"Action=GetCallerIdentity&Version=2011-06-15",
            ctype="application/x-www-form-urlencoded",
        )
    )
    assert sts.service == "sts"


def test_unknown_signing_name() -> None:
    with pytest.raises(ServiceError) as caught:
        route(request("nosuchservice"))
    assert caught.value.code == "UnknownServiceException"
