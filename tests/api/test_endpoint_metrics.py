"""Endpoint and training metrics through boto3 CloudWatch and Prometheus /metrics, against a live server."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from endpoint_tenant import ROLE, XGBOOST, Tenant
from live_helpers import poll
from prometheus_client.parser import text_string_to_metric_families

from sagemill.testing.live_server import LiveServer


class MetricTenant(Tenant):
    """A tenant that reads its metrics back through GetMetricStatistics."""

    def deploy_one(self) -> tuple[str, str]:
        """A one-instance endpoint of the default model, once InService: (endpoint, config)."""
        config = self.config([("AllTraffic", self.model(), 1, 1.0)])
        name, _, _ = self.deploy_config(config, timeout=60)
        return name, config

    def statistics(
        self, namespace: str, metric: str, dims: dict[str, str], **kw: Any
    ) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        kw.setdefault("StartTime", now - timedelta(minutes=10))
        kw.setdefault("EndTime", now + timedelta(minutes=2))
        if "ExtendedStatistics" not in kw:
            kw.setdefault("Statistics", ["Sum", "SampleCount", "Average", "Minimum", "Maximum"])
        reply = self.cw.get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
            Period=60,
            **kw,
        )
        return list(reply["Datapoints"])


def _total(points: list[dict[str, Any]], statistic: str = "Sum") -> float:
    return sum(p[statistic] for p in points)


def _scrape(server: LiveServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    reply = requests.get(f"{server.url}/metrics", timeout=10)
    assert reply.status_code == 200, reply.text
    out = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


@pytest.fixture
def tenant(server: LiveServer) -> Iterator[MetricTenant]:
    tenant = MetricTenant(server)
    yield tenant
    tenant.delete_endpoints()


def test_invocations_reach_cloudwatch_and_prometheus(tenant: MetricTenant, server: LiveServer) -> None:
    name, config = tenant.deploy_one()
    for _ in range(3):
        tenant.runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"0.5,-0.25")
    with pytest.raises(tenant.runtime.exceptions.ModelError):
        tenant.runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"not,a,number\n")
    dims = {"EndpointName": name, "VariantName": "AllTraffic"}
    namespace = "AWS/SageMaker"
    for dimensions in (dims, {**dims, "EndpointConfigName": config}):
        points = poll(
            lambda d=dimensions: tenant.statistics(namespace, "Invocations", d),
            lambda p: _total(p) >= 4,
        )
        assert (_total(points), _total(points, "SampleCount")) == (4, 4), points
        errors = tenant.statistics(namespace, "Invocation4XXErrors", dimensions)
        assert (_total(errors), _total(errors, "SampleCount")) == (1, 4)
        assert max(p["Maximum"] for p in errors) == 1 and min(p["Minimum"] for p in errors) == 0
        assert _total(tenant.statistics(namespace, "Invocation5XXErrors", dimensions)) == 0
        assert _total(tenant.statistics(namespace, "InvocationModelErrors", dimensions)) == 1
        per_instance = tenant.statistics(namespace, "InvocationsPerInstance", dimensions)
        assert _total(per_instance) == 4  # one instance: 1/1 per request
        latency = tenant.statistics(namespace, "ModelLatency", dimensions)
        assert _total(latency, "SampleCount") == 4
        assert {p["Unit"] for p in latency} == {"Microseconds"}
        assert all(0 < p["Minimum"] <= p["Average"] <= p["Maximum"] < 60e6 for p in latency)
        p50 = tenant.statistics(namespace, "OverheadLatency", dimensions, ExtendedStatistics=["p50"])
        assert p50 and all(p["ExtendedStatistics"]["p50"] >= 0 for p in p50)
    listed = tenant.cw.list_metrics(
        Namespace=namespace, MetricName="Invocations", Dimensions=[{"Name": "EndpointName", "Value": name}]
    )["Metrics"]
    assert sorted(sorted(d["Name"] for d in m["Dimensions"]) for m in listed) == [
        ["EndpointConfigName", "EndpointName", "VariantName"],
        ["EndpointName", "VariantName"],
    ]
    names = {
        m["MetricName"]
        for m in tenant.cw.list_metrics(
            Namespace=namespace, Dimensions=[{"Name": "EndpointName", "Value": name}]
        )["Metrics"]
    }
    assert names == {
        "Invocations",
        "Invocation4XXErrors",
        "Invocation5XXErrors",
        "InvocationModelErrors",
        "InvocationsPerInstance",
        "ModelLatency",
        "OverheadLatency",
    }
    labels = frozenset(
        {("account", tenant.account), ("region", "us-east-1"), ("endpoint", name), ("variant", "AllTraffic")}
    )
    scraped = poll(
        lambda: _scrape(server), lambda s: s.get(("sagemill_endpoint_invocations_total", labels)) == 4
    )
    assert scraped[("sagemill_endpoint_invocations_total", labels)] == 4
    assert scraped[("sagemill_endpoint_invocation_errors_total", labels | {("kind", "4xx")})] == 1
    assert scraped[("sagemill_endpoint_invocation_errors_total", labels | {("kind", "model")})] == 1
    assert scraped[("sagemill_endpoint_model_latency_seconds_count", labels)] == 4
    created = frozenset({("service", "sagemaker"), ("operation", "CreateEndpoint"), ("status_class", "2xx")})
    assert scraped[("sagemill_requests_total", created)] >= 1
    assert any(name == "sagemill_build_info" for name, _ in scraped)
    tenant.sm.delete_endpoint(EndpointName=name)


def _regression_csv(rows: int, seed: int) -> bytes:
    rng = random.Random(seed)
    lines = []
    for _ in range(rows):
        x1, x2 = rng.uniform(-1, 1), rng.uniform(-1, 1)
        lines.append(f"{3 * x1 - 2 * x2 + rng.gauss(0, 0.05):.5f},{x1:.5f},{x2:.5f}")
    return ("\n".join(lines) + "\n").encode()


def test_training_metrics_reach_cloudwatch_as_training_job_analytics_reads_them(tenant: MetricTenant) -> None:
    channels = {}
    for channel, rows, seed in (("train", 300, 1), ("validation", 100, 2)):
        tenant.s3.put_object(
            Bucket=tenant.bucket, Key=f"{channel}/data.csv", Body=_regression_csv(rows, seed)
        )
        channels[channel] = f"s3://{tenant.bucket}/{channel}/"
    name = f"xgb-{uuid.uuid4().hex[:8]}"
    tenant.sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": XGBOOST, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        HyperParameters={"num_round": "10", "objective": "reg:squarederror", "max_depth": "3"},
        InputDataConfig=[
            {
                "ChannelName": channel,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
                "ContentType": "text/csv",
            }
            for channel, uri in channels.items()
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{tenant.bucket}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    job = poll(
        lambda: tenant.sm.describe_training_job(TrainingJobName=name),
        lambda j: j["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"),
        timeout=120,
    )
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    final = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    # The SDK's TrainingJobAnalytics: Average per 60 s from TrainingStartTime to TrainingEndTime + 1 min.
    window = {"StartTime": job["TrainingStartTime"], "EndTime": job["TrainingEndTime"] + timedelta(minutes=1)}
    namespace = "/aws/sagemaker/TrainingJobs"
    points = tenant.statistics(
        namespace, "validation:rmse", {"TrainingJobName": name}, Statistics=["Average", "Minimum"], **window
    )
    assert points, "no validation:rmse datapoints for the job"
    assert min(p["Minimum"] for p in points) <= final["validation:rmse"]
    host = tenant.statistics(namespace, "train:rmse", {"Host": f"{name}/algo-1"}, **window)
    assert _total(host, "SampleCount") >= 1
    listed = tenant.cw.list_metrics(
        Namespace=namespace, Dimensions=[{"Name": "TrainingJobName", "Value": name}]
    )["Metrics"]
    assert {m["MetricName"] for m in listed} >= {"train:rmse", "validation:rmse"}


def test_metrics_are_not_served_in_strict_mode_unless_made_public(tmp_path: Path) -> None:
    strict = LiveServer(tmp_path / "strict", auth="strict").start()
    try:
        reply = requests.get(f"{strict.url}/metrics", timeout=10)
        assert reply.status_code == 404 and "SAGEMILL_METRICS_PUBLIC" in reply.text
    finally:
        strict.stop()
    public = LiveServer(tmp_path / "public", auth="strict", env={"SAGEMILL_METRICS_PUBLIC": "1"}).start()
    try:
        reply = requests.get(f"{public.url}/metrics", timeout=10)
        assert reply.status_code == 200 and "sagemill_build_info" in reply.text
    finally:
        public.stop()
