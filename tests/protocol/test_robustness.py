"""Untrusted input: whatever arrives, matching and parsing fail with a ServiceError and nothing else."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sagemill.aws.errors import ServiceError
from sagemill.aws.protocol import protocol_for
from sagemill.aws.request import AwsRequest
from sagemill.aws.specs import service_model

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_segments = st.one_of(
    st.sampled_from(
        ["bucket", "key", "endpoints", "invocations", "v1", "speech", "FeatureGroup", "", "%2F", "%ZZ"]
    ),
    st.text(max_size=12).map(lambda text: quote(text, safe="")),
)
_paths = st.lists(_segments, max_size=5).map(lambda parts: "/" + "/".join(parts))
_query = st.lists(
    st.tuples(
        st.sampled_from(["uploads", "uploadId", "partNumber", "list-type", "max-keys", "delete", "acl", "x"]),
        st.text(max_size=10),
    ),
    max_size=4,
).map(lambda pairs: urlencode(pairs))
_header_names = st.sampled_from(
    [
        "content-type",
        "content-encoding",
        "x-amz-meta-a",
        "range",
        "x-amz-copy-source",
        "if-modified-since",
        "x-amzn-sagemaker-custom-attributes",
        "x-amzn-sagemaker-enable-explanations",
        "x-amz-content-sha256",
        "x-amz-decoded-content-length",
        "content-length",
        "x-amz-target",
    ]
)
_header_values = st.one_of(
    st.sampled_from(["aws-chunked", "gzip", "application/xml", "application/json", "true", "1", "-1", ""]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
)
_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"<Delete><Object><Key>a</Key></Object></Delete>",
            b"<CreateBucketConfiguration><LocationConstraint>x</LocationConstraint></CreateBucketConfiguration>",
            b'{"Text": "hi", "OutputFormat": "mp3", "VoiceId": "Joanna"}',
            b"5\r\nhello\r\n0\r\n\r\n",
            b"\x1f\x8b\x08\x00garbage",
            b"<a>" * 2000,
        ]
    ),
)


def _exercise(protocol_name: str, service: str, request: AwsRequest) -> None:
    protocol = protocol_for(protocol_name)
    model = service_model(service)
    try:
        operation = protocol.match_operation(request, model)
        protocol.parse(request, operation)
    except ServiceError:
        pass


@FUZZ
@given(
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD"]),
    path=_paths,
    query=_query,
    headers=st.dictionaries(_header_names, _header_values, max_size=5),
    body=_bodies,
    service=st.sampled_from([("rest-xml", "s3"), ("rest-json", "sagemaker-runtime"), ("rest-json", "polly")]),
)
def test_rest_protocols_never_raise_unexpectedly(
    method: str, path: str, query: str, headers: dict[str, str], body: bytes, service: tuple[str, str]
) -> None:
    _exercise(service[0], service[1], AwsRequest(method, path, query, headers, body))


_form_keys = st.sampled_from(
    [
        "Action",
        "RoleArn",
        "RoleSessionName",
        "DurationSeconds",
        "Tags.member.1.Key",
        "Tags.member.x",
        "PolicyArns.member.1.arn",
        "MessageAttributes.entry.1.Name",
        "MessageAttributes.entry.1.Value.BinaryValue",
        "MetricData.member.1.Timestamp",
        "MetricData.member.1.Value",
    ]
)


@FUZZ
@given(
    pairs=st.lists(st.tuples(_form_keys, st.text(max_size=20)), max_size=8),
    action=st.sampled_from(["AssumeRole", "Publish", "PutMetricData", "GetCallerIdentity", "Nope", ""]),
    raw=st.binary(max_size=50),
    service=st.sampled_from(["sts", "sns", "cloudwatch"]),
)
def test_query_protocol_never_raises_unexpectedly(
    pairs: list[tuple[str, str]], action: str, raw: bytes, service: str
) -> None:
    body = urlencode([("Action", action), *pairs]).encode() + raw
    request = AwsRequest("POST", "/", "", {"content-type": "application/x-www-form-urlencoded"}, body)
    _exercise("query", service, request)
