"""ShadowProductionVariants through boto3: copies of live traffic reach the shadow, never the caller."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from endpoint_tenant import ROWS, Tenant, booster, expected, predictions, wrong_features
from live_helpers import poll, run_sagemill

from sagemill.testing.live_server import LiveServer


@pytest.fixture
def tenant(server: LiveServer) -> Iterator[Tenant]:
    tenant = Tenant(server)
    yield tenant
    tenant.delete_endpoints()


def _variant(name: str, model: str, weight: float, count: int = 1) -> dict[str, Any]:
    return {
        "VariantName": name,
        "ModelName": model,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": count,
        "InitialVariantWeight": weight,
    }


def _shadow_config(tenant: Tenant, production: str, shadow: str, weight: float = 1.0) -> str:
    name = f"c-{uuid.uuid4().hex[:8]}"
    tenant.sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[_variant("Live", production, 1.0)],
        ShadowProductionVariants=[_variant("Shadow", shadow, weight)],
    )
    return name


def _sum(tenant: Tenant, endpoint: str, variant: str, metric: str) -> float:
    now = dt.datetime.now(dt.UTC)
    answer = tenant.cw.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName=metric,
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=1),
        Period=3600,
        Statistics=["Sum"],
    )
    return sum(p["Sum"] for p in answer["Datapoints"])


def test_config_rules(tenant: Tenant) -> None:
    model = tenant.model()
    with pytest.raises(ClientError) as error:
        tenant.sm.create_endpoint_config(
            EndpointConfigName=f"c-{uuid.uuid4().hex[:8]}",
            ProductionVariants=[_variant("A", model, 1.0), _variant("B", model, 1.0)],
            ShadowProductionVariants=[_variant("S", model, 1.0)],
        )
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "exactly one variant in ProductionVariants" in error.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as error:
        tenant.sm.create_endpoint_config(
            EndpointConfigName=f"c-{uuid.uuid4().hex[:8]}",
            ProductionVariants=[_variant("A", model, 1.0)],
            ShadowProductionVariants=[_variant("A", model, 1.0)],
        )
    assert "Variant names must be unique" in error.value.response["Error"]["Message"]


def test_shadow_gets_every_request_and_the_caller_only_production(tenant: Tenant, server: LiveServer) -> None:
    live, shadow = booster(1), booster(2)
    config = _shadow_config(tenant, tenant.model(live), tenant.model(shadow))
    name, _, _ = tenant.deploy_config(config)
    described = tenant.sm.describe_endpoint(EndpointName=name)
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["Live"]
    (summary,) = described["ShadowProductionVariants"]
    assert summary["VariantName"] == "Shadow"
    assert summary["CurrentInstanceCount"] == summary["DesiredInstanceCount"] == 1
    assert summary["CurrentWeight"] == 1.0
    listing = run_sagemill(server, tenant.account, "endpoints", "list")
    assert any(line.split()[0] == "Shadow" and "shadow" in line.split() for line in listing.splitlines())

    for _ in range(40):
        reply = tenant.invoke(name)
        assert reply["ResponseMetadata"]["HTTPHeaders"]["x-amzn-invoked-production-variant"] == "Live"
        assert predictions(reply) == pytest.approx(expected(live), rel=1e-5)
    shadowed = poll(lambda: _sum(tenant, name, "Shadow", "Invocations"), lambda n: n >= 40)
    assert shadowed == 40
    assert _sum(tenant, name, "Live", "Invocations") == 40
    assert _sum(tenant, name, "Shadow", "InvocationModelErrors") == 0
    tenant.sm.delete_endpoint(EndpointName=name)


def test_a_failing_shadow_never_fails_the_caller(tenant: Tenant) -> None:
    config = _shadow_config(tenant, tenant.model(booster(1)), tenant.model(wrong_features()))
    name, _, _ = tenant.deploy_config(config)
    for _ in range(20):
        assert len(predictions(tenant.invoke(name))) == len(ROWS)
    errors = poll(lambda: _sum(tenant, name, "Shadow", "InvocationModelErrors"), lambda n: n >= 20)
    assert errors == 20
    assert _sum(tenant, name, "Live", "InvocationModelErrors") == 0
    tenant.sm.delete_endpoint(EndpointName=name)


def test_sampling_follows_the_shadow_weight_and_can_be_changed(tenant: Tenant) -> None:
    model = tenant.model()
    name, _, _ = tenant.deploy_config(_shadow_config(tenant, model, model, weight=0.25))
    for _ in range(400):
        tenant.invoke(name)
    copies = poll(lambda: _sum(tenant, name, "Shadow", "Invocations"), lambda n: n >= 60, timeout=10)
    assert 60 <= copies <= 140  # 100 expected; binomial(400, 0.25) stays inside with p > 0.9999

    tenant.sm.update_endpoint_weights_and_capacities(
        EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": "Shadow", "DesiredWeight": 0.0}]
    )
    described = tenant.wait(name)
    assert described["ShadowProductionVariants"][0]["CurrentWeight"] == 0.0
    time.sleep(1.5)  # copies sent before the change are flushed to the metric store
    before = _sum(tenant, name, "Shadow", "Invocations")
    for _ in range(50):
        tenant.invoke(name)
    poll(lambda: _sum(tenant, name, "Live", "Invocations"), lambda n: n >= 450)
    assert _sum(tenant, name, "Shadow", "Invocations") == before
    tenant.sm.delete_endpoint(EndpointName=name)


def test_update_replaces_and_removes_shadows(tenant: Tenant) -> None:
    model = tenant.model()
    name, _, _ = tenant.deploy_config(_shadow_config(tenant, model, model))
    with pytest.raises(ClientError) as error:
        tenant.sm.update_endpoint(
            EndpointName=name,
            EndpointConfigName=tenant.config([("Live", model, 1, 1.0)]),
            DeploymentConfig={
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 0,
                }
            },
        )
    assert "not supported for endpoints with shadow variants" in error.value.response["Error"]["Message"]

    renamed = f"c-{uuid.uuid4().hex[:8]}"
    tenant.sm.create_endpoint_config(
        EndpointConfigName=renamed,
        ProductionVariants=[_variant("Live", model, 1.0)],
        ShadowProductionVariants=[_variant("Shadow2", model, 1.0)],
    )
    tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=renamed)
    done = tenant.wait(name)
    assert done["EndpointStatus"] == "InService", done.get("FailureReason")
    assert [v["VariantName"] for v in done["ShadowProductionVariants"]] == ["Shadow2"]
    tenant.invoke(name)
    assert poll(lambda: _sum(tenant, name, "Shadow2", "Invocations"), lambda n: n >= 1) == 1

    tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=tenant.config([("Live", model, 1, 1.0)]))
    done = tenant.wait(name)
    assert done["EndpointStatus"] == "InService"
    assert "ShadowProductionVariants" not in done
    assert json.loads(json.dumps(done["ProductionVariants"], default=str))[0]["VariantName"] == "Live"
    tenant.sm.delete_endpoint(EndpointName=name)


def test_blue_green_update_brings_the_new_shadow_up_before_promoting(tenant: Tenant) -> None:
    model = tenant.model()
    name, _, _ = tenant.deploy_config(_shadow_config(tenant, model, model))
    target = f"c-{uuid.uuid4().hex[:8]}"
    tenant.sm.create_endpoint_config(
        EndpointConfigName=target,
        ProductionVariants=[_variant("Live", model, 1.0)],
        ShadowProductionVariants=[_variant("Next", model, 1.0, count=2)],
    )
    tenant.sm.update_endpoint(
        EndpointName=name,
        EndpointConfigName=target,
        DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                "TerminationWaitInSeconds": 0,
            }
        },
    )
    pending = tenant.sm.describe_endpoint(EndpointName=name)
    assert pending["EndpointStatus"] == "Updating"
    done = tenant.wait(name)
    assert done["EndpointStatus"] == "InService", done.get("FailureReason")
    (shadow,) = done["ShadowProductionVariants"]
    assert (shadow["VariantName"], shadow["CurrentInstanceCount"]) == ("Next", 2)
    assert done["EndpointConfigName"] == target
    tenant.sm.delete_endpoint(EndpointName=name)


def test_a_restarted_server_adopts_the_shadow_and_keeps_copying(tmp_path: Path) -> None:
    live = LiveServer(tmp_path).start()
    try:
        tenant = Tenant(live)
        model = tenant.model()
        name, _, _ = tenant.deploy_config(_shadow_config(tenant, model, model))
        ids = {i.name for i in (tmp_path / "endpoints").glob("*/*/*/instances/*")}
        assert len(ids) == 2  # one production and one shadow instance
        live.kill()
        live = LiveServer(tmp_path, port=live.port).start()  # same URL: the tenant's clients reconnect
        for _ in range(10):
            tenant.invoke(name)
        assert poll(lambda: _sum(tenant, name, "Shadow", "Invocations"), lambda n: n >= 10) == 10
        assert {i.name for i in (tmp_path / "endpoints").glob("*/*/*/instances/*")} == ids  # adopted
        described = tenant.sm.describe_endpoint(EndpointName=name)
        assert described["ShadowProductionVariants"][0]["CurrentInstanceCount"] == 1
        tenant.sm.delete_endpoint(EndpointName=name)
    finally:
        live.stop()
