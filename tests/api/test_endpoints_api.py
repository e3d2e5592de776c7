"""Endpoints through boto3 against a live server: deploy an XGBoost model, invoke it, update, heal, delete."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import tarfile
import threading
import time
import uuid
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

from sagemill.testing.live_server import LiveServer

XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
ROWS = [[0.5, -0.25], [-0.75, 0.1], [0.0, 0.0]]


def _booster(seed: int) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(200, 2))
    y = 3 * x[:, 0] - 2 * x[:, 1]
    return xgb.train({"max_depth": 3, "eta": 0.3, "nthread": 1}, xgb.DMatrix(x, label=y), 10)


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Tenant:
    """One account with a bucket, clients, and helpers to deploy models."""

    def __init__(self, server: LiveServer) -> None:
        self.account = str(random.randint(10**11, 10**12 - 1))
        self.sm = server.client("sagemaker", account=self.account)
        self.s3 = server.client("s3", account=self.account)
        self.runtime = server.client("sagemaker-runtime", account=self.account)
        self.logs = server.client("logs", account=self.account)
        self.bucket = f"models-{self.account}"
        self.s3.create_bucket(Bucket=self.bucket)

    def model(self, booster: xgb.Booster | None = None, raw: bytes | None = None) -> str:
        name = f"m-{uuid.uuid4().hex[:8]}"
        data = raw if raw is not None else bytes((booster or _booster(1)).save_raw("ubj"))
        key = f"{name}/model.tar.gz"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=_archive({"xgboost-model": data}))
        self.sm.create_model(
            ModelName=name,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": XGBOOST, "ModelDataUrl": f"s3://{self.bucket}/{key}"},
        )
        return name

    def config(self, variants: list[tuple[str, str, int, float]]) -> str:
        name = f"c-{uuid.uuid4().hex[:8]}"
        self.sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": variant,
                    "ModelName": model,
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": count,
                    "InitialVariantWeight": weight,
                }
                for variant, model, count, weight in variants
            ],
        )
        return name

    def wait(self, name: str, timeout: float = 30.0, until: tuple[str, ...] = ("InService", "Failed")) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            endpoint = self.sm.describe_endpoint(EndpointName=name)
            if endpoint["EndpointStatus"] in until or time.monotonic() > deadline:
                return endpoint
            time.sleep(0.05)

    def deploy(self, variants: list[tuple[str, str, int, float]]) -> tuple[str, float]:
        name = f"ep-{uuid.uuid4().hex[:8]}"
        self.sm.create_endpoint(EndpointName=name, EndpointConfigName=self.config(variants))
        started = time.monotonic()
        endpoint = self.wait(name)
        assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
        return name, time.monotonic() - started

    def invoke(self, name: str, **kw: Any) -> Any:
        body = "\n".join(",".join(str(v) for v in row) for row in ROWS)
        return self.runtime.invoke_endpoint(
            EndpointName=name, ContentType="text/csv", Accept="application/json", Body=body, **kw
        )


@pytest.fixture
def tenant(server: LiveServer) -> Tenant:
    return Tenant(server)


def _expected(booster: xgb.Booster) -> list[float]:
    return [float(v) for v in booster.predict(xgb.DMatrix(np.array(ROWS)))]


def _predictions(reply: Any) -> list[float]:
    payload = json.loads(reply["Body"].read())
    return [float(p["score"]) for p in payload["predictions"]]


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
