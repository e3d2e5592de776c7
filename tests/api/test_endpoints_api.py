"""Endpoints through boto3 against a live server: deploy an XGBoost model, invoke it, update, heal, delete."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from botocore.exceptions import ClientError

# test_deployment_controls, test_guardrails and test_rolling_updates import Tenant and these from here.
from endpoint_tenant import XGBOOST, Tenant
from endpoint_tenant import booster as _booster
from endpoint_tenant import expected as _expected
from endpoint_tenant import predictions as _predictions

from sagemill.testing.live_server import LiveServer


@pytest.fixture
def tenant(server: LiveServer) -> Iterator[Tenant]:
    tenant = Tenant(server)
    yield tenant
    tenant.delete_endpoints()


def test_create_invoke_describe_logs_delete(tenant: Tenant) -> None:
    booster = _booster(1)
    name, seconds = tenant.deploy([("AllTraffic", tenant.model(booster), 2, 1.0)])
    assert seconds < 10
    endpoint = tenant.sm.describe_endpoint(EndpointName=name)
    assert endpoint["EndpointArn"] == f"arn:aws:sagemaker:us-east-1:{tenant.account}:endpoint/{name}"
    [variant] = endpoint["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (2, 2)
    assert (variant["CurrentWeight"], variant["DesiredWeight"]) == (1.0, 1.0)
    assert variant["DeployedImages"][0]["SpecifiedImage"] == XGBOOST
    assert "@sha256:" in variant["DeployedImages"][0]["ResolvedImage"]
    reply = tenant.invoke(name, CustomAttributes="trace=1", InferenceId="abc")
    assert reply["ContentType"].startswith("application/json")
    assert reply["InvokedProductionVariant"] == "AllTraffic"
    assert np.allclose(_predictions(reply), _expected(booster), atol=1e-5)
    listed = tenant.sm.list_endpoints(NameContains=name)["Endpoints"]
    assert [e["EndpointName"] for e in listed] == [name] and listed[0]["EndpointStatus"] == "InService"
    streams = tenant.logs.describe_log_streams(
        logGroupName=f"/aws/sagemaker/Endpoints/{name}", logStreamNamePrefix="AllTraffic/"
    )["logStreams"]
    assert len(streams) == 2 and all(s["logStreamName"].startswith("AllTraffic/i-") for s in streams)
    tenant.sm.delete_endpoint(EndpointName=name)
    with pytest.raises(ClientError) as caught:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert tenant.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Deleting"
            time.sleep(0.05)
    assert caught.value.response["Error"]["Message"] == (
        f'Could not find endpoint "arn:aws:sagemaker:us-east-1:{tenant.account}:endpoint/{name}".'
    )
    with pytest.raises(tenant.runtime.exceptions.ValidationError):
        tenant.invoke(name)


def test_control_plane_errors(tenant: Tenant) -> None:
    arn = f"arn:aws:sagemaker:us-east-1:{tenant.account}:endpoint"
    with pytest.raises(ClientError) as caught:
        tenant.sm.create_endpoint(EndpointName="e1", EndpointConfigName="nope")
    assert caught.value.response["Error"]["Message"] == (
        f'Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:{tenant.account}:'
        'endpoint-config/nope".'
    )
    with pytest.raises(ClientError) as caught:
        tenant.sm.describe_endpoint(EndpointName="missing")
    assert caught.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": f'Could not find endpoint "{arn}/missing".',
    }
    name, _ = tenant.deploy([("AllTraffic", tenant.model(), 1, 1.0)])
    config = tenant.sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    with pytest.raises(ClientError) as caught:
        tenant.sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    assert (
        caught.value.response["Error"]["Message"]
        == f'Cannot create already existing endpoint "{arn}/{name}".'
    )
    with pytest.raises(ClientError) as caught:
        tenant.sm.update_endpoint(
            EndpointName=name,
            EndpointConfigName=config,
            DeploymentConfig={
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 5000}
                }
            },
        )
    message = caught.value.response["Error"]["Message"]
    assert "waitIntervalInSeconds' failed to satisfy constraint" in message, message
    tenant.sm.update_endpoint_weights_and_capacities(
        EndpointName=name,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 2}],
    )
    with pytest.raises(ClientError) as caught:
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=config)
    assert caught.value.response["Error"]["Message"] == f'Cannot update in-progress endpoint "{arn}/{name}".'
    assert tenant.wait(name)["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    tenant.sm.add_tags(ResourceArn=f"{arn}/{name}", Tags=[{"Key": "team", "Value": "ml"}])
    assert tenant.sm.list_tags(ResourceArn=f"{arn}/{name}")["Tags"] == [{"Key": "team", "Value": "ml"}]
    tenant.sm.delete_endpoint(EndpointName=name)


def test_runtime_errors_and_tenant_isolation(tenant: Tenant, server: LiveServer) -> None:
    name, _ = tenant.deploy([("AllTraffic", tenant.model(), 1, 1.0)])
    runtime = tenant.runtime
    with pytest.raises(runtime.exceptions.ValidationError) as missing:
        runtime.invoke_endpoint(EndpointName="nope", ContentType="text/csv", Body=b"1,2")
    assert (
        missing.value.response["Error"]["Message"] == f"Endpoint nope of account {tenant.account} not found."
    )
    with pytest.raises(runtime.exceptions.ModelError) as model_error:
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"not,a,number\n")
    response = model_error.value.response
    assert 400 <= response["OriginalStatusCode"] < 500
    assert response["Error"]["Message"].startswith(
        f'Received client error ({response["OriginalStatusCode"]}) from primary with message "'
    )
    assert response["Error"]["Message"].endswith(
        f"#logEventViewer:group=/aws/sagemaker/Endpoints/{name} in account {tenant.account} "
        "for more information."
    )
    assert response["LogStreamArn"] == (
        f"arn:aws:logs:us-east-1:{tenant.account}:log-group:/aws/sagemaker/Endpoints/{name}"
    )
    with pytest.raises(ClientError) as too_big:
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1" * (6 * 1024 * 1024 + 1))
    assert too_big.value.response["Error"]["Message"] == "HTTP content length exceeded 6291456 bytes."
    with pytest.raises(runtime.exceptions.ValidationError):
        tenant.invoke(name, TargetVariant="NoSuchVariant")
    other = Tenant(server)
    with pytest.raises(other.runtime.exceptions.ValidationError) as foreign:
        other.invoke(name)
    assert (
        foreign.value.response["Error"]["Message"] == f"Endpoint {name} of account {other.account} not found."
    )
    assert _predictions(tenant.invoke(name))  # still serving its owner
    tenant.sm.delete_endpoint(EndpointName=name)


def test_target_variant_weights_and_capacities(tenant: Tenant) -> None:
    blue, green = _booster(1), _booster(2)
    name, _ = tenant.deploy([("Blue", tenant.model(blue), 1, 1.0), ("Green", tenant.model(green), 1, 0.0)])
    assert {tenant.invoke(name)["InvokedProductionVariant"] for _ in range(10)} == {"Blue"}
    reply = tenant.invoke(name, TargetVariant="Green")
    assert reply["InvokedProductionVariant"] == "Green"
    assert np.allclose(_predictions(reply), _expected(green), atol=1e-5)
    tenant.sm.update_endpoint_weights_and_capacities(
        EndpointName=name,
        DesiredWeightsAndCapacities=[
            {"VariantName": "Blue", "DesiredWeight": 0.0},
            {"VariantName": "Green", "DesiredWeight": 1.0, "DesiredInstanceCount": 2},
        ],
    )
    endpoint = tenant.wait(name)
    variants = {v["VariantName"]: v for v in endpoint["ProductionVariants"]}
    assert variants["Green"]["CurrentInstanceCount"] == 2 and variants["Green"]["CurrentWeight"] == 1.0
    assert {tenant.invoke(name)["InvokedProductionVariant"] for _ in range(10)} == {"Green"}
    tenant.sm.delete_endpoint(EndpointName=name)


def test_update_endpoint_swaps_fleet_without_failed_requests(tenant: Tenant) -> None:
    old, new = _booster(1), _booster(3)
    name, _ = tenant.deploy([("AllTraffic", tenant.model(old), 1, 1.0)])
    errors: list[str] = []
    seen: list[list[float]] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                seen.append(_predictions(tenant.invoke(name)))
            except Exception as exc:
                errors.append(repr(exc))

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        new_config = tenant.config([("AllTraffic", tenant.model(new), 2, 1.0)])
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=new_config)
        assert tenant.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Updating"
        endpoint = tenant.wait(name, until=("InService",))
        time.sleep(1.0)  # the old fleet retires while requests keep coming
    finally:
        stop.set()
        worker.join()
    assert errors == []
    assert endpoint["EndpointConfigName"] == new_config
    assert np.allclose(seen[-1], _expected(new), atol=1e-5)
    assert any(np.allclose(s, _expected(old), atol=1e-5) for s in seen)
    tenant.sm.delete_endpoint(EndpointName=name)


def test_bad_artifact_fails_with_the_cause(tenant: Tenant) -> None:
    name = f"ep-{uuid.uuid4().hex[:8]}"
    config = tenant.config([("AllTraffic", tenant.model(raw=b"this is not a model"), 1, 1.0)])
    tenant.sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    started = time.monotonic()
    endpoint = tenant.wait(name)
    assert endpoint["EndpointStatus"] == "Failed"
    assert time.monotonic() - started < 15
    assert "model server" in endpoint["FailureReason"] and "exited with code 1" in endpoint["FailureReason"]
    with pytest.raises(ClientError) as caught:
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=config)
    assert "Cannot update failed endpoint" in caught.value.response["Error"]["Message"]
    tenant.sm.delete_endpoint(EndpointName=name)


def test_killed_instance_is_replaced_while_serving(tenant: Tenant, server: LiveServer) -> None:
    name, _ = tenant.deploy([("AllTraffic", tenant.model(), 2, 1.0)])
    workers = sorted((server.data_dir / "endpoints" / tenant.account).rglob("worker/worker.json"))
    assert len(workers) == 2
    victim = json.loads(workers[0].read_text())["pid"]
    os.kill(victim, signal.SIGKILL)
    ok = 0
    deadline = time.monotonic() + 20
    replaced = False
    while time.monotonic() < deadline and not replaced:
        assert tenant.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
        try:
            _predictions(tenant.invoke(name))
            ok += 1
        except ClientError:
            pass
        now = sorted((server.data_dir / "endpoints" / tenant.account).rglob("worker/worker.json"))
        variant = tenant.sm.describe_endpoint(EndpointName=name)["ProductionVariants"][0]
        replaced = len(now) == 3 and variant["CurrentInstanceCount"] == 2
    assert replaced and ok > 0
    tenant.sm.delete_endpoint(EndpointName=name)


def test_cli_lists_endpoints_and_variants(tenant: Tenant, server: LiveServer) -> None:
    import argparse

    from sagemill.cli import endpoints as cli

    name, _ = tenant.deploy([("AllTraffic", tenant.model(), 1, 1.0)])
    out = io.StringIO()
    args = argparse.Namespace(endpoint_url=server.url, region="us-east-1", max=100)
    os.environ["AWS_ACCESS_KEY_ID"], saved = tenant.account, os.environ.get("AWS_ACCESS_KEY_ID")
    try:
        assert cli.run(args, out) == 0
    finally:
        os.environ.pop("AWS_ACCESS_KEY_ID")
        if saved is not None:
            os.environ["AWS_ACCESS_KEY_ID"] = saved
    text = out.getvalue()
    assert name in text and "InService" in text and "instances 1/1" in text
    tenant.sm.delete_endpoint(EndpointName=name)


def test_update_to_the_same_config_keeps_serving(tenant: Tenant) -> None:
    """A redeploy of the endpoint's own config keeps answering correctly throughout."""
    booster = _booster(5)
    name, _ = tenant.deploy([("AllTraffic", tenant.model(booster), 1, 1.0)])
    config = tenant.sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    errors: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                assert np.allclose(_predictions(tenant.invoke(name)), _expected(booster), atol=1e-5)
            except Exception as exc:
                errors.append(repr(exc))

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=config)
        endpoint = tenant.wait(name, until=("InService",))
        time.sleep(1.0)
    finally:
        stop.set()
        worker.join()
    assert errors == []
    assert endpoint["EndpointConfigName"] == config
    tenant.sm.delete_endpoint(EndpointName=name)
