"""Which service a request is for: SigV4 credential scope, then X-Amz-Target, then the path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import parse_qs

from botocore.model import ServiceModel

from sagemill.aws.errors import ServiceError
from sagemill.aws.protocol.base import gunzip, is_gzipped
from sagemill.aws.request import AwsRequest
from sagemill.aws.specs import resolved_protocol, service_model

DEFAULT_REGION = "us-east-1"

# SigV4 signing name → client names that share it. The first is the default.
SIGNING_NAMES: dict[str, tuple[str, ...]] = {
    "sagemaker": (
        "sagemaker",
        "sagemaker-runtime",
        "sagemaker-metrics",
        "sagemaker-featurestore-runtime",
    ),
    "monitoring": ("cloudwatch",),
    "logs": ("logs",),
    "s3": ("s3",),
    "sts": ("sts",),
    "iam": ("iam",),
    "sns": ("sns",),
    "polly": ("polly",),
}

_SAGEMAKER_PATHS = (
    ("/endpoints/", "sagemaker-runtime"),
    ("/BatchPutMetrics", "sagemaker-metrics"),
    ("/BatchGetMetrics", "sagemaker-metrics"),
    ("/FeatureGroup/", "sagemaker-featurestore-runtime"),
)

_QUERY_VERSIONS = {
    "2011-06-15": "sts",
    "2010-08-01": "cloudwatch",
    "2010-03-31": "sns",
    "2010-05-08": "iam",
}

_CREDENTIAL = re.compile(r"Credential=([^/,\s]*)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")


@dataclass(frozen=True, slots=True)
class Route:
    """The service chosen for a request, the protocol to answer in, and the scope's region."""

    service: str
    protocol: str
    region: str
    signing_name: str | None


def credential_scope(request: AwsRequest) -> tuple[str, str] | None:
    """(region, signing name) from the Authorization header or a presigned URL, if any."""
    match = _CREDENTIAL.search(request.header("authorization"))
    if match:
        return match.group(3), match.group(4)
    if "x-amz-credential=" in request.query.lower():
        for name, values in parse_qs(request.query).items():
            if name.lower() == "x-amz-credential":
                parts = values[0].split("/")
                if len(parts) == 5 and parts[4] == "aws4_request":
                    return parts[2], parts[3]
    return None


def virtual_host_path(request: AwsRequest, suffixes: tuple[str, ...]) -> str | None:
    """The path-style path of a virtual-hosted-style S3 request, or None when the Host names no bucket.

    `Host: <bucket>.<suffix>[:port]` with a configured suffix (the longest that fits wins) puts the
    bucket in front of the path, as S3 itself reads such requests.
    """
    if not suffixes:
        return None
    scope = credential_scope(request)
    if scope is None or scope[1] != "s3":
        return None
    host = request.header("host").strip().lower()
    if host.startswith("["):
        return None  # an IPv6 literal names no bucket
    name = host.rsplit(":", 1)[0].rstrip(".")
    for suffix in sorted((s.strip(".").lower() for s in suffixes), key=len, reverse=True):
        if suffix and name.endswith("." + suffix) and len(name) > len(suffix) + 1:
            return f"/{name[: -len(suffix) - 1]}{request.path or '/'}"
    return None


@cache
def _target_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for names in SIGNING_NAMES.values():
        for name in names:
            prefix = service_model(name).metadata.get("targetPrefix")
            if prefix:
                index[prefix] = name
    return index


def _form_action_version(request: AwsRequest) -> tuple[str, str] | None:
    content_type = request.header("content-type").lower()
    if request.method == "POST" and "application/x-www-form-urlencoded" in content_type:
        body = request.body
        if is_gzipped(request):
            # botocore gzips large query bodies (PutMetricData over 10 KiB); the Action is inside.
            try:
                body = gunzip(body)
            except ServiceError:
                return None
        text = body.decode("utf-8", "replace")
    elif request.method == "GET" and "Action=" in request.query:
        text = request.query
    else:
        return None
    fields = parse_qs(text)
    if "Action" not in fields:
        return None
    return fields["Action"][0], fields.get("Version", [""])[0]


def _protocol_for_request(model: ServiceModel, request: AwsRequest) -> str:
    offered = model.metadata.get("protocols") or [model.metadata["protocol"]]
    if len(offered) > 1:
        if request.header("x-amz-target") and "json" in offered:
            return "json"
        if "query" in offered and _form_action_version(request) is not None:
            return "query"
    return resolved_protocol(model)


def route(request: AwsRequest) -> Route:
    """Pick the service; raises an UnknownService ServiceError when nothing fits."""
    scope = credential_scope(request)
    region, signing = scope if scope else (DEFAULT_REGION, None)
    service = _service_for(request, signing)
    if service is None:
        raise ServiceError(
            "UnknownServiceException",
            "Sagemill could not tell which AWS service this request is for"
            + (f" (signing name '{signing[:64]}')." if signing else "."),
            400,
        )
    model = service_model(service)
    return Route(service, _protocol_for_request(model, request), region, signing)


def _sigv2_query(request: AwsRequest) -> bool:
    lowered = request.query.lower()
    return "awsaccesskeyid=" in lowered and "signature=" in lowered and "expires=" in lowered


def _service_for(request: AwsRequest, signing: str | None) -> str | None:
    target = request.header("x-amz-target")
    prefix = target.rpartition(".")[0]
    if signing is not None:
        candidates = SIGNING_NAMES.get(signing)
        if candidates is None:
            return None
        if signing == "sagemaker" and not target:
            for path_prefix, name in _SAGEMAKER_PATHS:
                if request.path.startswith(path_prefix):
                    return name
        return candidates[0]
    # Unsigned: guess from the target or the form, so the error is at least in the right protocol.
    if _sigv2_query(request):
        return "s3"  # a SigV2 presigned URL (boto3's default for S3): refused, but in S3's words
    if prefix:
        return _target_index().get(prefix)
    action = _form_action_version(request)
    if action is not None:
        return _QUERY_VERSIONS.get(action[1])
    for path_prefix, name in _SAGEMAKER_PATHS:
        if request.path.startswith(path_prefix):
            return name
    return None
