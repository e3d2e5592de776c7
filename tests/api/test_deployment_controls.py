"""Sagemill's deployment extension on a live server: pause/resume, promote, abort, sticky routing, history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from endpoint_tenant import Tenant, booster, expected, predictions
from signing import sign

from sagemill.domain.rollout import sticky_bucket
from sagemill.testing.live_server import LiveServer


@pytest.fixture(scope="module")
def live(alarm_server: LiveServer) -> LiveServer:
    """The module's server, evaluating alarms every second (tests/api/conftest.py)."""
    return alarm_server


def call(
    server: LiveServer,
    account: str,
    name: str,
    action: str = "",
    body: bytes = b"",
    *,
    signed: bool = True,
    service: str = "sagemaker",
) -> tuple[int, Any]:
    """GET the deployment (no action) or POST an action, SigV4-signed as `account`."""
    url = f"{server.url}/_sagemill/endpoints/{name}/deployment" + (f"/{action}" if action else "")
    method = "POST" if action else "GET"
    headers = {"Content-Type": "application/json"}
    if signed:
        headers = sign(method, url, headers, body, service=service, access_key=account)
    request = urllib.request.Request(url, data=body if action else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def cli(server: LiveServer, account: str, *args: str) -> str:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_ENDPOINT_URL": server.url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "sagemill", "endpoints", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def poll(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def canary(wait: int, termination: int = 0, alarm: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                "WaitIntervalInSeconds": wait,
            },
            "TerminationWaitInSeconds": termination,
            "MaximumExecutionTimeoutInSeconds": max(600, 2 * (wait + termination)),
        }
    }
    if alarm:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": alarm}]}
    return config


def start_canary(server: LiveServer, tenant: Tenant, config: dict[str, Any]) -> tuple[str, str, str]:
    """An endpoint of 2 old instances in a canary to 2 new ones; returns once the canary takes traffic."""
    name, _ = tenant.deploy([("AllTraffic", tenant.model(booster(1)), 2, 1.0)])
    old = tenant.sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    new = tenant.config([("AllTraffic", tenant.model(booster(5)), 2, 1.0)])
    tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=new, DeploymentConfig=config)

    def shifted() -> Any:
        status, answer = call(server, tenant.account, name)
        assert status == 200, answer
        current = answer["Deployment"]
        return current if current and current["GreenWeight"] > 0 else None

    poll(shifted, 60, "the canary to take traffic")
    return name, old, new


def test_pause_holds_the_canary_past_its_bake_then_resume_completes(live: LiveServer) -> None:
    tenant = Tenant(live)
    alarm = f"errors-{tenant.account}"
    live.client("cloudwatch", account=tenant.account).put_metric_alarm(
        AlarmName=alarm,
        MetricName="Invocation5XXErrors",
        Namespace="AWS/SageMaker",
        Statistic="Sum",
        Dimensions=[{"Name": "EndpointName", "Value": "never"}],
        Period=10,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    name, _, new = start_canary(live, tenant, canary(wait=5, alarm=alarm))
    reason = json.dumps({"Reason": "checking the canary"}).encode()
    status, answer = call(live, tenant.account, name, "pause", reason)
    paused_at = time.monotonic()
    assert status == 200 and answer["Deployment"]["Status"] == "Paused", answer
    assert "checking the canary" in answer["Deployment"]["Events"][-1]["Message"]
    remaining = answer["Deployment"]["Paused"]["RemainingBakeSeconds"]
    assert 0 < remaining <= 5
    assert answer["Deployment"]["Paused"]["Principal"] == f"arn:aws:iam::{tenant.account}:root"

    # While paused the split is stable: a sticky key always reaches one fleet, keyless requests both.
    green_key = next(k for k in (f"user-{i}" for i in range(1000)) if sticky_bucket(k) < 0.15)
    blue_key = next(k for k in (f"user-{i}" for i in range(1000)) if sticky_bucket(k) > 0.6)
    old_answer, new_answer = expected(booster(1)), expected(booster(5))
    for _ in range(15):
        assert predictions(tenant.invoke(name, InferenceId=green_key)) == pytest.approx(new_answer)
        assert predictions(tenant.invoke(name, InferenceId=blue_key)) == pytest.approx(old_answer)
    keyless = [predictions(tenant.invoke(name)) == pytest.approx(new_answer) for _ in range(60)]
    assert any(keyless) and not all(keyless)

    time.sleep(max(0.0, paused_at + 7 - time.monotonic()))  # well past the 5 s bake
    status, answer = call(live, tenant.account, name)
    described = tenant.sm.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "Updating"
    assert answer["Deployment"]["Status"] == "Paused"
    assert answer["Deployment"]["GreenWeight"] == pytest.approx(1 / 3)
    pending = described["PendingDeploymentSummary"]["ProductionVariants"][0]
    assert pending["VariantStatus"][0]["StatusMessage"].startswith("Deployment paused")

    resumed = time.monotonic()
    out = cli(live, tenant.account, "resume", name, "--reason", "looks good")
    assert "Resumed by" in out and "seconds left" in out and "looks good" in out, out
    done = tenant.wait(name, timeout=30)
    assert done["EndpointStatus"] == "InService" and done["EndpointConfigName"] == new
    assert time.monotonic() - resumed >= remaining - 0.5  # the bake went on with what it had left
    status, answer = call(live, tenant.account, name)
    record = answer["History"][-1]
    kinds = [e["Event"] for e in record["Events"]]
    assert record["Status"] == "Completed" and answer["Deployment"] is None
    for kind in ("Started", "TrafficShifted", "BakeStarted", "Paused", "Resumed", "Baked", "Completed"):
        assert kind in kinds, kinds
    baked = next(e for e in record["Events"] if e["Event"] == "Baked")
    assert alarm in baked["Alarms"] and "at end of bake" in baked["Message"]

    history = cli(live, tenant.account, "history", name)
    assert f"{name}: InService on {new}" in history
    assert "CANARY, Completed" in history
    for fragment in ("Paused by", "Resumed by", "at end of bake", "The new fleet takes 33% of the traffic"):
        assert fragment in history, history


def test_promote_during_a_long_bake_completes_quickly(live: LiveServer) -> None:
    tenant = Tenant(live)
    name, _, new = start_canary(live, tenant, canary(wait=600, termination=600))
    started = time.monotonic()
    status, answer = call(live, tenant.account, name, "promote")
    assert status == 200 and answer["Deployment"]["Status"] == "Promoting", answer
    done = tenant.wait(name, timeout=20)
    assert done["EndpointStatus"] == "InService" and done["EndpointConfigName"] == new
    assert "FailureReason" not in done
    assert time.monotonic() - started < 20
    record = call(live, tenant.account, name)[1]["History"][-1]
    assert record["Status"] == "Completed" and "promoted by" in record["Reason"]
    assert [e["Event"] for e in record["Events"]][-4:] == [
        "PromoteRequested",
        "Promoted",
        "Retiring",
        "Completed",
    ]


def test_abort_rolls_back_and_other_accounts_cannot_see_or_steer(live: LiveServer) -> None:
    tenant = Tenant(live)
    name, old, _ = start_canary(live, tenant, canary(wait=600))

    stranger = Tenant(live)
    for action in ("", "abort", "promote"):
        status, error = call(live, stranger.account, name, action)
        assert status == 400 and error["__type"] == "ValidationException", error
        assert (
            f'Could not find endpoint "arn:aws:sagemaker:us-east-1:{stranger.account}:endpoint/'
            in (error["message"])
        )
    status, error = call(live, tenant.account, name, signed=False)
    assert status == 403 and error["__type"] == "MissingAuthenticationTokenException", error
    status, error = call(live, tenant.account, name, "abort", signed=False)
    assert status == 403, error
    status, error = call(live, tenant.account, name, service="s3")
    assert status == 403 and error["__type"] == "InvalidSignatureException", error
    status, error = call(live, tenant.account, name, "explode")
    assert status == 404 and error["__type"] == "UnknownOperationException", error
    status, error = call(live, tenant.account, name, "resume")
    assert status == 400 and "it is not paused" in error["message"], error
    assert call(live, tenant.account, name)[1]["Deployment"]["Status"] == "InProgress"

    status, answer = call(live, tenant.account, name, "abort", json.dumps({"Reason": "bad canary"}).encode())
    assert status == 200 and answer["Deployment"]["Status"] == "Aborting", answer
    done = tenant.wait(name, timeout=20)
    assert done["EndpointStatus"] == "InService" and done["EndpointConfigName"] == old
    reason = done["FailureReason"]
    assert reason.startswith(f"Deployment was aborted by arn:aws:iam::{tenant.account}:root at "), reason
    assert reason.endswith("Reason: bad canary")
    # Every request is the old model's again.
    for _ in range(5):
        assert predictions(tenant.invoke(name)) == pytest.approx(expected(booster(1)))

    status, error = call(live, tenant.account, name, "pause")
    assert status == 400 and error["__type"] == "ValidationException"
    assert "there is no deployment in progress" in error["message"]
    record = call(live, tenant.account, name)[1]["History"][-1]
    assert record["Status"] == "RolledBack" and record["Reason"] == reason
    assert [e["Event"] for e in record["Events"]][-3:] == ["AbortRequested", "Aborted", "RolledBack"]
    assert "RolledBack" in cli(live, tenant.account, "history", name)


def test_strict_auth_verifies_the_signature(tmp_path: Any) -> None:
    """In strict mode the extension verifies SigV4 with the issued secret, the CLI's signing included."""
    from test_auth_strict import issue

    server = LiveServer(tmp_path / "strict", auth="strict").start()
    try:
        key = issue(server.data_dir, "operator")
        url = f"{server.url}/_sagemill/endpoints/nope/deployment"
        request = AWSRequest(method="GET", url=url, data=b"", headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(key.access_key_id, "wrong-secret"), "sagemaker", "us-east-1").add_auth(request)
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=dict(request.headers.items())))
            raise AssertionError("a wrong secret was accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403 and json.loads(exc.read())["__type"] == "InvalidSignatureException"
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": key.access_key_id,
            "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
            "AWS_ENDPOINT_URL": server.url,
        }
        done = subprocess.run(
            [sys.executable, "-m", "sagemill", "endpoints", "abort", "nope"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        arn = f"arn:aws:sagemaker:us-east-1:{key.account_id}:endpoint/nope"
        assert done.returncode == 1 and f'Could not find endpoint "{arn}"' in done.stderr, done.stderr
    finally:
        server.stop()
