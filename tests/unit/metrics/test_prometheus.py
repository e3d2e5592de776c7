"""Prometheus /metrics: exposure rule, exact histogram buckets, series text, the ASGI app, gateway routing."""

from __future__ import annotations

import asyncio
import gzip
import random
from collections.abc import MutableMapping
from dataclasses import replace
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sagemill.aws.dispatch import Dispatcher
from sagemill.aws.gateway import Gateway
from sagemill.domain.resources import Resource, ResourceKey
from sagemill.domain.training import SecondaryStatus, TrainingProgress
from sagemill.metrics.invocations import BucketingRecorder, EndpointRef, latency_bucket
from sagemill.metrics.prometheus import LATENCY_BOUNDS_US, PrometheusMetrics, exposed
from sagemill.security.authenticators import DevAuthenticator

REF = EndpointRef("123456789012", "us-east-1", "ep")
LABELS = {"account": "123456789012", "region": "us-east-1", "endpoint": "ep", "variant": "v"}


class FakeStore:
    def __init__(self, resources: list[Resource]) -> None:
        self.resources = resources

    def due_resources(self, kind: str, now: float, limit: int) -> list[Resource]:
        due = [r for r in self.resources if r.key.kind == kind and r.next_action_at is not None]
        return [r for r in due if r.next_action_at is not None and r.next_action_at <= now][:limit]

    def count_by_status(self, kind: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.resources:
            if r.key.kind == kind:
                counts[r.status] = counts.get(r.status, 0) + 1
        return counts


def _job(name: str, status: str, secondary: SecondaryStatus, metrics: dict[str, float]) -> Resource:
    progress = TrainingProgress(secondary=secondary, final_metrics={k: (v, 1.0) for k, v in metrics.items()})
    return Resource(
        key=ResourceKey("123456789012", "us-east-1", "training_job", name),
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        desired={},
        created_at=0.0,
        updated_at=0.0,
        status=status,
        next_action_at=1.0,
        observed=progress.to_json(),
    )


def _metrics(resources: list[Resource] | None = None, *, public: bool = True) -> PrometheusMetrics:
    return PrometheusMetrics(FakeStore(resources or []), "9.9.9", public=public)  # type: ignore[arg-type]


def _scrape(metrics: PrometheusMetrics, **headers: str) -> tuple[int, dict[bytes, bytes], bytes]:
    return asyncio.run(_call(metrics.app, "GET", headers))


async def _call(app: Any, method: str, headers: dict[str, str], path: str = "/metrics") -> Any:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }
    await app(scope, receive, send)
    start, body = sent[0], sent[1]
    return start["status"], dict(start["headers"]), body["body"]


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def test_exposed_in_dev_or_when_the_operator_says_so() -> None:
    assert exposed("dev", {})
    assert not exposed("strict", {})
    assert exposed("strict", {"SAGEMILL_METRICS_PUBLIC": "1"})
    assert exposed("strict", {"SAGEMILL_METRICS_PUBLIC": "true"})
    assert not exposed("strict", {"SAGEMILL_METRICS_PUBLIC": "0"})


def test_no_latency_bucket_straddles_a_histogram_bound() -> None:
    rng = random.Random(3)
    values = [rng.randrange(0, 70_000_000) for _ in range(50_000)]
    values += [b + d for b in LATENCY_BOUNDS_US for d in (-11, -1, 0, 1, 11)]
    for us in values:
        for bound in LATENCY_BOUNDS_US:
            assert (latency_bucket(us) <= bound) == (us <= bound), (us, bound)


def test_endpoint_series_from_drained_windows() -> None:
    metrics = _metrics()
    recorder = BucketingRecorder(lambda: 1_000.0)
    for model_us, status, model_error in ((400, 200, False), (3_000, 200, False), (2_000_000, 500, True)):
        recorder.record_invocation(REF, "v", "cfg", model_us, 100, status, model_error=model_error)
    metrics.fold(recorder.drain(everything=True))
    status, headers, body = _scrape(metrics)
    assert status == 200 and headers[b"content-type"].startswith(b"text/plain")
    samples = _samples(body.decode())
    labels = frozenset(LABELS.items())
    assert samples[("sagemill_endpoint_invocations_total", labels)] == 3
    for kind, count in (("4xx", 0), ("5xx", 1), ("model", 1)):
        key = ("sagemill_endpoint_invocation_errors_total", labels | {("kind", kind)})
        assert samples[key] == count
    bucket = "sagemill_endpoint_model_latency_seconds_bucket"
    assert samples[(bucket, labels | {("le", "0.0005")})] == 1
    assert samples[(bucket, labels | {("le", "0.005")})] == 2
    assert samples[(bucket, labels | {("le", "1.0")})] == 2
    assert samples[(bucket, labels | {("le", "2.5")})] == 3
    assert samples[(bucket, labels | {("le", "+Inf")})] == 3
    assert samples[("sagemill_endpoint_model_latency_seconds_sum", labels)] == 2.0034
    assert samples[("sagemill_endpoint_overhead_latency_seconds_count", labels)] == 3


def test_platform_requests_training_jobs_and_build_info() -> None:
    jobs = [
        _job("a", "InProgress", SecondaryStatus.TRAINING, {"train:rmse": 0.5}),
        _job("b", "InProgress", SecondaryStatus.TRAINING, {}),
        _job("c", "Stopping", SecondaryStatus.STOPPING, {}),
        replace(_job("d", "Completed", SecondaryStatus.COMPLETED, {}), next_action_at=None),
        replace(
            _job("e", "InService", SecondaryStatus.COMPLETED, {}), key=ResourceKey("1", "r", "endpoint", "e")
        ),
    ]
    metrics = _metrics(jobs)
    metrics.observe_request("sagemaker", "CreateEndpoint", 200, 0.004)
    metrics.observe_request("sagemaker", "CreateEndpoint", 400, 0.002)
    samples = _samples(_scrape(metrics)[2].decode())
    ok = frozenset({("service", "sagemaker"), ("operation", "CreateEndpoint"), ("status_class", "2xx")})
    assert samples[("sagemill_requests_total", ok)] == 1
    op = frozenset({("service", "sagemaker"), ("operation", "CreateEndpoint")})
    assert samples[("sagemill_request_duration_seconds_count", op)] == 2
    training = frozenset({("status", "InProgress"), ("secondary_status", "Training")})
    assert samples[("sagemill_training_jobs_active", training)] == 2
    stopping = frozenset({("status", "Stopping"), ("secondary_status", "Stopping")})
    assert samples[("sagemill_training_jobs_active", stopping)] == 1
    assert not any(
        k[0] == "sagemill_training_jobs_active" and ("status", "Completed") in k[1] for k in samples
    )
    assert samples[("sagemill_training_jobs", frozenset({("status", "InProgress")}))] == 2
    assert samples[("sagemill_training_jobs", frozenset({("status", "Completed")}))] == 1
    assert samples[("sagemill_endpoints", frozenset({("status", "InService")}))] == 1
    job = {("account", "123456789012"), ("region", "us-east-1"), ("job", "a"), ("metric", "train:rmse")}
    assert samples[("sagemill_training_job_metric", frozenset(job))] == 0.5
    build = [k for k in samples if k[0] == "sagemill_build_info"]
    assert len(build) == 1 and ("version", "9.9.9") in build[0][1]


def test_each_application_has_its_own_registry() -> None:
    first, second = _metrics(), _metrics()
    first.observe_request("s3", "PutObject", 200, 0.01)
    assert b'operation="PutObject"' in _scrape(first)[2]
    assert b'operation="PutObject"' not in _scrape(second)[2]


def test_openmetrics_gzip_head_and_refusals() -> None:
    metrics = _metrics()
    status, headers, body = _scrape(
        metrics, accept="application/openmetrics-text; version=1.0.0", accept_encoding="gzip"
    )
    assert status == 200 and headers[b"content-encoding"] == b"gzip"
    assert headers[b"content-type"].startswith(b"application/openmetrics-text")
    assert gzip.decompress(body).endswith(b"# EOF\n")
    status, headers, body = asyncio.run(_call(metrics.app, "HEAD", {}))
    assert status == 200 and body == b"" and int(headers[b"content-length"]) > 0
    assert asyncio.run(_call(metrics.app, "POST", {}))[0] == 405
    status, _, body = _scrape(_metrics(public=False))
    assert status == 404 and b"SAGEMILL_METRICS_PUBLIC" in body


def test_gateway_routes_unsigned_get_metrics_and_leaves_signed_ones_to_s3() -> None:
    calls: list[str] = []

    async def metrics_app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    gateway = Gateway(Dispatcher(), DevAuthenticator(), metrics=metrics_app)
    status, headers, _ = asyncio.run(_call(gateway, "GET", {}))
    assert (status, calls) == (200, ["/metrics"])
    assert b"x-amzn-RequestId" in headers
    signed = {"authorization": "AWS4-HMAC-SHA256 Credential=123456789012/20250101/us-east-1/s3/aws4_request"}
    asyncio.run(_call(gateway, "GET", signed))
    assert calls == ["/metrics"]  # answered by the AWS chain, not the metrics app
    asyncio.run(_call(gateway, "GET", {}, path="/metrics/x"))
    assert calls == ["/metrics"]
