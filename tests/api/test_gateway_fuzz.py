"""Random requests at a live gateway: always an AWS-shaped answer; no 500, traceback, HTML or hang."""

from __future__ import annotations

import http.client
import json
import string
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signing import assert_no_leak, sign

from sagemill.aws.routing import SIGNING_NAMES
from sagemill.testing.live_server import LiveServer

TIMEOUT_S = 15

OPERATIONS = [
    "CreateModel",
    "DescribeModel",
    "ListModels",
    "DeleteModel",
    "CreateEndpointConfig",
    "DescribeEndpointConfig",
    "ListEndpointConfigs",
    "AddTags",
    "ListTags",
    "DeleteTags",
    "CreateTrainingJob",
]
MEMBERS = [
    "ModelName",
    "ExecutionRoleArn",
    "PrimaryContainer",
    "Containers",
    "Image",
    "Environment",
    "Tags",
    "Key",
    "Value",
    "ResourceArn",
    "TagKeys",
    "MaxResults",
    "NextToken",
    "SortBy",
    "SortOrder",
    "CreationTimeAfter",
    "EndpointConfigName",
    "ProductionVariants",
    "VariantName",
    "InitialInstanceCount",
    "InstanceType",
    "EnableNetworkIsolation",
    "VpcConfig",
]

tokens = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=24)
printable = st.text(string.printable.strip("\r\n\x0b\x0c") + " ", max_size=60)
# Header values may carry obs-text (bytes 0x80-0xFF, sent as latin-1).
header_values = st.text(string.printable.strip("\r\n\x0b\x0c") + " \xe9\x80\xff", max_size=60)

targets = st.one_of(
    st.sampled_from(OPERATIONS).map(lambda op: f"SageMaker.{op}"),
    st.sampled_from(
        ["Logs_20140328", "GraniteServiceVersion20100801", "SageMaker", "AWSSecurityTokenService"]
    ).flatmap(lambda prefix: tokens.map(lambda op: f"{prefix}.{op}")),
    header_values,
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/x-amz-json-1.1",
            "application/x-amz-json-1.0",
            "application/json",
            "application/x-www-form-urlencoded; charset=utf-8",
            "application/xml",
            "text/plain",
            "application/cbor",
            "multipart/form-data; boundary=x",
            "",
        ]
    ),
    header_values,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["arn:aws:sagemaker:us-east-1:123456789012:model/m", "2024-01-01T00:00:00Z", "a" * 70]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(MEMBERS), st.text(max_size=10)), inner, max_size=5),
    ),
    max_leaves=20,
)
json_bodies = st.one_of(
    st.dictionaries(st.sampled_from(MEMBERS), json_values, max_size=6),
    json_values,
).map(lambda doc: json.dumps(doc).encode())
form_bodies = st.dictionaries(
    st.one_of(st.sampled_from(["Action", "Version", "RoleArn", "MaxResults", "Tags.member.1.Key"]), tokens),
    st.one_of(st.sampled_from(["GetCallerIdentity", "2011-06-15", "AssumeRole", "ListMetrics"]), printable),
    max_size=5,
).map(lambda form: urlencode(form).encode())
bodies = st.one_of(st.just(b""), st.binary(max_size=300), json_bodies, form_bodies)

paths = st.one_of(
    st.just("/"),
    st.sampled_from(
        [
            "/endpoints/ep/invocations",
            "/FeatureGroup/fg",
            "/BatchPutMetrics",
            "/_sagemill/health",
            "/_sagemill/nothing",
            "/bucket/key",
            "/2015-10-01/functions",
            "/v1/lexicons",
        ]
    ),
    st.lists(
        st.one_of(st.text(string.printable, max_size=12), st.binary(max_size=8)).map(
            lambda s: quote(s, safe="")
        ),
        max_size=4,
    ).map(lambda parts: "/" + "/".join(parts)),
)
queries = st.one_of(
    st.just(""),
    st.dictionaries(
        st.one_of(
            st.sampled_from(
                [
                    "Action",
                    "Version",
                    "X-Amz-Credential",
                    "X-Amz-Signature",
                    "X-Amz-Algorithm",
                    "x-id",
                    "list-type",
                ]
            ),
            tokens,
        ),
        st.one_of(
            st.sampled_from(
                [
                    "GetCallerIdentity",
                    "2011-06-15",
                    "AWS4-HMAC-SHA256",
                    "123456789012/20240101/us-east-1/sts/aws4_request",
                    "0" * 64,
                ]
            ),
            printable,
        ),
        max_size=4,
    ).map(urlencode),
)
methods = st.one_of(
    st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]),
    st.text(string.ascii_uppercase, min_size=1, max_size=8),
)
authorizations = st.one_of(
    st.sampled_from(
        [
            "AWS4-HMAC-SHA256 garbage",
            "Basic abc",
            "AWS4-HMAC-SHA256 Credential=123456789012/20240101/us-east-1/sagemaker/aws4_request, "
            "SignedHeaders=host, Signature=" + "f" * 64,
            "AWS4-HMAC-SHA256 Credential=x/y/z/aws4_request",
        ]
    ),
    header_values,
)
signing_names = st.one_of(st.sampled_from(sorted(SIGNING_NAMES)), tokens)
access_keys = st.sampled_from(["210987654321", "AKIDEXAMPLE", "000000000000"])
regions = st.sampled_from(["us-east-1", "eu-west-1", "x"])
extra_headers = st.dictionaries(
    st.sampled_from(
        ["X-Amz-Date", "X-Amz-Security-Token", "Content-Encoding", "Accept", "X-Amz-Content-Sha256"]
    )
    | tokens.map(lambda t: f"X-Fuzz-{t}"),
    header_values,
    max_size=3,
)


@st.composite
def fuzzed_requests(draw: st.DrawFn) -> dict[str, Any]:
    method = draw(methods)
    path = draw(paths)
    query = draw(queries)
    body = draw(bodies)
    headers: dict[str, str] = dict(draw(extra_headers))
    if draw(st.booleans()):
        headers["X-Amz-Target"] = draw(targets)
    if draw(st.integers(0, 4)):
        headers["Content-Type"] = draw(content_types)
    auth = draw(st.sampled_from(["signed", "signed", "signed", "none", "garbled"]))
    if auth == "garbled":
        headers["Authorization"] = draw(authorizations)
    if auth == "signed":
        url = f"http://127.0.0.1{path}" + (f"?{query}" if query else "")
        headers = sign(
            method,
            url,
            headers,
            body,
            service=draw(signing_names),
            region=draw(regions),
            access_key=draw(access_keys),
        )
    return {"method": method, "path": path, "query": query, "headers": headers, "body": body}


@st.composite
def signed_sagemaker_calls(draw: st.DrawFn) -> dict[str, Any]:
    """Validly signed SageMaker JSON calls, so that parsing, validation and handlers run."""
    operation = draw(st.sampled_from(OPERATIONS))
    body = draw(st.one_of(json_bodies, json_bodies, st.binary(max_size=100)))
    headers = {"X-Amz-Target": f"SageMaker.{operation}", "Content-Type": "application/x-amz-json-1.1"}
    headers = sign("POST", "http://127.0.0.1/", headers, body, access_key="210987654321")
    return {"method": "POST", "path": "/", "query": "", "headers": headers, "body": body}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("fuzz")).start()
    yield live
    log = live.log()
    assert live.process is not None and live.process.poll() is None, log[-4000:]
    live.stop()
    assert "Traceback" not in log, log[-8000:]


def _send(server: LiveServer, request: dict[str, Any]) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT_S)
    try:
        target = request["path"] + (f"?{request['query']}" if request["query"] else "")
        connection.putrequest(request["method"], target, skip_accept_encoding=True)
        for name, value in request["headers"].items():
            if name.lower() not in ("host", "content-length"):
                connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(request["body"])))
        connection.endheaders(request["body"])
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def _check(server: LiveServer, request: dict[str, Any]) -> None:
    status, headers, body = _send(server, request)
    context = (request, status, dict(headers), body[:2000])
    assert status != 500, context
    assert 200 <= status < 600, context
    assert headers.get("x-amzn-RequestId"), context
    assert_no_leak(body)
    if request["method"] == "HEAD" or not body:
        return
    content_type = headers.get("Content-Type", "")
    if "json" in content_type:
        document = json.loads(body)
        if status >= 400:
            assert isinstance(document, dict), context
            code = document.get("__type") or document.get("code") or document.get("Code")
            assert code, context
    elif "xml" in content_type:
        root = ElementTree.fromstring(body)
        if status >= 400:
            codes = [el.text for el in root.iter() if el.tag.rpartition("}")[2] == "Code" and el.text]
            assert codes, context
    else:
        assert status < 400, context


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(request=fuzzed_requests())
def test_random_requests_get_aws_shaped_answers(fuzz_server: LiveServer, request: dict[str, Any]) -> None:
    _check(fuzz_server, request)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(request=signed_sagemaker_calls())
def test_random_signed_sagemaker_calls(fuzz_server: LiveServer, request: dict[str, Any]) -> None:
    _check(fuzz_server, request)


def test_server_survives_the_fuzzing(fuzz_server: LiveServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", fuzz_server.port, timeout=TIMEOUT_S)
    try:
        connection.request("GET", "/_sagemill/health")
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["status"] == "ok"
    finally:
        connection.close()
    listed = fuzz_server.client("sagemaker", account="210987654321").list_models(MaxResults=100)
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
