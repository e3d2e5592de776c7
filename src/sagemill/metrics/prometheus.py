"""Prometheus `/metrics`: platform requests, endpoint invocations, training jobs and build info.

Each Application owns a CollectorRegistry (never the process-global default), so several apps in one
process (tests) keep separate series. The gateway serves `GET /metrics` on the main port, before AWS
routing, for requests that are not AWS-signed (a signed `GET /metrics` stays S3's ListObjects of a
bucket named `metrics`).

Exposure: `/metrics` is unauthenticated, as Prometheus scrapes expect, and its labels name accounts,
endpoints, variants and training jobs. It is therefore served only in `--auth dev` (where any signed
request sees any account anyway) or when the operator sets `SAGEMILL_METRICS_PUBLIC=1` (e.g. the port is
reachable only from the monitoring network); otherwise, in `--auth strict`, it answers 404 and says how
to enable it.

Series:
- `sagemill_requests_total{service, operation, status_class}` and
  `sagemill_request_duration_seconds{service, operation}`: the control plane (the generic AWS chain);
  InvokeEndpoint is counted by the endpoint series below instead.
- `sagemill_endpoint_invocations_total`, `sagemill_endpoint_invocation_errors_total{kind=4xx|5xx|model}`,
  `sagemill_endpoint_model_latency_seconds`, `sagemill_endpoint_overhead_latency_seconds` (histograms),
  labelled account/region/endpoint/variant: folded in from the invocation flusher's per-second windows
  (off the event loop, up to a second behind). Histogram bucket bounds are 3-digit latency bucket bounds,
  so every invocation is counted in exactly the right Prometheus bucket.
- `sagemill_training_jobs_active{status, secondary_status}` and `sagemill_training_job_metric{account,
  region, job, metric}` (latest value of each metric a running job logged): read from the store at scrape
  time; `sagemill_training_jobs{status}` and `sagemill_endpoints{status}` count every stored job (finished
  ones too) and endpoint by status, across accounts.
- `sagemill_build_info{version, python}`, and the client library's process/platform collectors.
"""

from __future__ import annotations

import bisect
import gzip
import json
import os
import platform
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from typing import Any

import anyio.to_thread
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.registry import Collector

from sagemill.domain.training import TrainingProgress
from sagemill.metrics.invocations import Drained, LatencyBuckets
from sagemill.store.base import Store

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PUBLIC_ENV = "SAGEMILL_METRICS_PUBLIC"
# Microseconds; each bound is a latency bucket bound of metrics/invocations.py (exact up to 1,000 µs,
# then 3 significant digits), so no latency bucket straddles a Prometheus bucket.
LATENCY_BOUNDS_US = (
    *(100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000),
    *(1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000),
)
REQUEST_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LE = [repr(us / 1e6) for us in LATENCY_BOUNDS_US]  # "0.0001" … "60.0", as the client formats `le`
_ENDPOINT_LABELS = ["account", "region", "endpoint", "variant"]
TRAINING_KIND = "training_job"
ENDPOINT_KIND = "endpoint"
_ACTIVE_JOBS_LIMIT = 10_000
_FAR_FUTURE = 1e18  # every active job's next_action_at is before this; finished jobs have none


def exposed(auth: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether `/metrics` answers: in dev auth, or when SAGEMILL_METRICS_PUBLIC is set to a true value."""
    return auth == "dev" or environ.get(PUBLIC_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class _LatencyHistogram:
    __slots__ = ("counts", "sum_us")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BOUNDS_US) + 1)  # the last one is +Inf
        self.sum_us = 0

    def fold(self, buckets: LatencyBuckets) -> None:
        for upper, (count, total, _low, _high) in buckets.items():
            self.counts[bisect.bisect_left(LATENCY_BOUNDS_US, upper)] += count
            self.sum_us += total

    def family_buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for le, count in zip([*_LE, "+Inf"], self.counts, strict=True):
            running += count
            out.append((le, running))
        return out


class _EndpointSeries:
    __slots__ = ("errors_4xx", "errors_5xx", "invocations", "model", "model_errors", "overhead")

    def __init__(self) -> None:
        self.invocations = 0
        self.errors_4xx = 0
        self.errors_5xx = 0
        self.model_errors = 0
        self.model = _LatencyHistogram()
        self.overhead = _LatencyHistogram()


class EndpointCollector(Collector):
    """Cumulative endpoint series, folded from the flusher's drains (a flusher observer)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # fold (flusher thread) vs collect (scrape thread)
        self._series: dict[tuple[str, str, str, str], _EndpointSeries] = {}

    def fold(self, drained: Drained) -> None:
        with self._lock:
            for _second, (ref, variant, _config), window in drained:
                labels = (ref.account_id, ref.region, ref.name, variant)
                series = self._series.get(labels)
                if series is None:
                    series = self._series[labels] = _EndpointSeries()
                series.invocations += window.invocations
                series.errors_4xx += window.errors_4xx
                series.errors_5xx += window.errors_5xx
                series.model_errors += window.model_errors
                series.model.fold(window.model_latency)
                series.overhead.fold(window.overhead_latency)

    def collect(self) -> Iterator[Metric]:
        invocations = CounterMetricFamily(
            "sagemill_endpoint_invocations", "InvokeEndpoint requests answered.", labels=_ENDPOINT_LABELS
        )
        errors = CounterMetricFamily(
            "sagemill_endpoint_invocation_errors",
            "Invocations answered 4xx or 5xx, and those whose model reply was not 2xx (kind=model).",
            labels=[*_ENDPOINT_LABELS, "kind"],
        )
        model = HistogramMetricFamily(
            "sagemill_endpoint_model_latency_seconds",
            "ModelLatency: time in the model container.",
            labels=_ENDPOINT_LABELS,
        )
        overhead = HistogramMetricFamily(
            "sagemill_endpoint_overhead_latency_seconds",
            "OverheadLatency: time in Sagemill outside the model container.",
            labels=_ENDPOINT_LABELS,
        )
        with self._lock:
            for labels, s in self._series.items():
                values = list(labels)
                invocations.add_metric(values, s.invocations)
                for kind, count in (("4xx", s.errors_4xx), ("5xx", s.errors_5xx), ("model", s.model_errors)):
                    errors.add_metric([*values, kind], count)
                model.add_metric(values, s.model.family_buckets(), s.model.sum_us / 1e6)
                overhead.add_metric(values, s.overhead.family_buckets(), s.overhead.sum_us / 1e6)
        yield from (invocations, errors, model, overhead)


class TrainingCollector(Collector):
    """Training jobs and endpoints by status, and each running job's latest logged metrics, at scrape time."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "sagemill_training_jobs_active",
            "Training jobs not yet finished, by status and secondary status.",
            labels=["status", "secondary_status"],
        )
        metric = GaugeMetricFamily(
            "sagemill_training_job_metric",
            "Latest value of each metric a running training job logged (its MetricDefinitions).",
            labels=["account", "region", "job", "metric"],
        )
        counts: dict[tuple[str, str], int] = {}
        for resource in self.store.due_resources(TRAINING_KIND, _FAR_FUTURE, _ACTIVE_JOBS_LIMIT):
            progress = TrainingProgress.from_json(resource.observed)
            labels = (resource.status, progress.secondary.value)
            counts[labels] = counts.get(labels, 0) + 1
            key = resource.key
            for name, (value, _at) in sorted(progress.final_metrics.items()):
                metric.add_metric([key.account_id, key.region, key.name, name], value)
        for (status, secondary), count in sorted(counts.items()):
            active.add_metric([status, secondary], count)
        jobs = GaugeMetricFamily(
            "sagemill_training_jobs",
            "Training jobs stored, finished ones included, by status.",
            labels=["status"],
        )
        for status, count in sorted(self.store.count_by_status(TRAINING_KIND).items()):
            jobs.add_metric([status], count)
        endpoints = GaugeMetricFamily("sagemill_endpoints", "Endpoints by status.", labels=["status"])
        for status, count in sorted(self.store.count_by_status(ENDPOINT_KIND).items()):
            endpoints.add_metric([status], count)
        yield from (active, metric, jobs, endpoints)


class PrometheusMetrics:
    """The registry and its collectors; `observe_request` is the gateway's hook, `app` serves /metrics."""

    def __init__(self, store: Store, version: str, *, public: bool) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sagemill_requests",
            "AWS API requests answered by the generic chain.",
            ["service", "operation", "status_class"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "sagemill_request_duration_seconds",
            "Time to answer an AWS API request (the generic chain).",
            ["service", "operation"],
            buckets=REQUEST_BOUNDS_S,
            registry=self.registry,
        )
        self.endpoints = EndpointCollector()
        self.registry.register(self.endpoints)
        self.registry.register(TrainingCollector(store))
        Info("sagemill_build", "Sagemill build.", registry=self.registry).info(
            {"version": version, "python": platform.python_version()}
        )
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.app = MetricsEndpoint(self.registry, public=public)

    def observe_request(self, service: str, operation: str, status: int, seconds: float) -> None:
        self.requests.labels(service, operation, f"{status // 100}xx").inc()
        self.request_seconds.labels(service, operation).observe(seconds)

    def fold(self, drained: Drained) -> None:
        self.endpoints.fold(drained)


class MetricsEndpoint:
    """The ASGI app behind `GET /metrics`: text or OpenMetrics as the scraper asks, gzip when accepted."""

    def __init__(self, registry: CollectorRegistry, *, public: bool) -> None:
        self.registry = registry
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.public:
            message = f"/metrics is served in --auth dev, or with {PUBLIC_ENV}=1."
            await _answer(send, 404, _json_error("NotFound", message), "json")
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, _json_error("MethodNotAllowed", "Use GET /metrics."), "json")
            return
        headers = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in scope["headers"]}
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        # Collectors read the store: off the event loop, which also serves InvokeEndpoint.
        output = await anyio.to_thread.run_sync(encoder, self.registry)
        extra: list[tuple[bytes, bytes]] = []
        if gzip_accepted(headers.get("accept-encoding", "")):
            output = gzip.compress(output, compresslevel=5)
            extra.append((b"content-encoding", b"gzip"))
        await _answer(send, 200, output, content_type, extra, head=scope["method"] == "HEAD")


def _json_error(code: str, message: str) -> bytes:
    return json.dumps({"__type": code, "message": message}).encode()


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
    *,
    head: bool = False,
) -> None:
    kind = "application/json" if content_type == "json" else content_type
    headers = [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": b"" if head else body})
