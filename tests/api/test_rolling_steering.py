"""Steering rolling updates on a live server: pause/resume, promote, abort, the timeline, a paused crash."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from endpoint_tenant import Tenant
from endpoint_tenant import booster as _booster
from endpoint_tenant import expected as _expected
from endpoint_tenant import predictions as _predictions
from test_deployment_controls import call, cli, poll
from test_guardrails import Traffic
from test_rolling_updates import _alive_workers

from sagemill.testing.live_server import LiveServer

ENV = {"SAGEMILL_ALARM_EVALUATION_SECONDS": "1"}
ONE = {"Type": "INSTANCE_COUNT", "Value": 1}


@pytest.fixture(scope="module")
def steering(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("rolling-steering"), env=ENV).start()
    yield live
    live.stop()


def _guard(server: LiveServer, tenant: Tenant, name: str) -> str:
    """An alarm that never fires (nothing writes its metric): the update has a guard to watch."""
    alarm = f"{name}-guard"
    server.client("cloudwatch", account=tenant.account).put_metric_alarm(
        AlarmName=alarm,
        ActionsEnabled=False,
        Namespace="Sagemill/Test",
        MetricName="NeverWritten",
        Dimensions=[{"Name": "EndpointName", "Value": name}],
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    return alarm


def start_rolling(server: LiveServer, tenant: Tenant, wait: int, **extra: Any) -> tuple[str, str, str]:
    """2 old instances replaced by 2 new ones, one per batch; returns (endpoint, old config, new config)."""
    name, _ = tenant.deploy([("AllTraffic", tenant.model(_booster(1)), 2, 1.0)])
    old = tenant.sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    new = tenant.config([("AllTraffic", tenant.model(_booster(5)), 2, 1.0)])
    config = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": ONE,
            "WaitIntervalInSeconds": wait,
            "MaximumExecutionTimeoutInSeconds": max(600, 3 * wait),
            **extra,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": _guard(server, tenant, name)}]},
    }
    tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=new, DeploymentConfig=config)
    return name, old, new


def _new_status(described: Any) -> dict[str, Any]:
    for variant in (described.get("PendingDeploymentSummary") or {}).get("ProductionVariants", []):
        for status in variant.get("VariantStatus") or []:
            return dict(status)
    return {}


def wait_baking(tenant: Tenant, name: str) -> Any:
    def baking() -> Any:
        described = tenant.sm.describe_endpoint(EndpointName=name)
        return described if _new_status(described).get("Status") == "Baking" else None

    return poll(baking, 60, "the first batch's bake")


def _counts(described: Any) -> tuple[int, int]:
    """(old fleet's, new fleet's) CurrentInstanceCount."""
    [old] = described["ProductionVariants"]
    [new] = described["PendingDeploymentSummary"]["ProductionVariants"]
    return old["CurrentInstanceCount"], new["CurrentInstanceCount"]


def test_pause_holds_a_batch_past_its_bake_and_resume_finishes_the_rollout(steering: LiveServer) -> None:
    tenant = Tenant(steering)
    name, _, new = start_rolling(steering, tenant, wait=5)
    wait_baking(tenant, name)
    status, answer = call(steering, tenant.account, name, "pause", json.dumps({"Reason": "look"}).encode())
    paused_at = time.monotonic()
    assert status == 200 and answer["Deployment"]["Status"] == "Paused", answer
    assert answer["Deployment"]["Type"] == "ROLLING"
    remaining = answer["Deployment"]["Paused"]["RemainingBakeSeconds"]
    assert 0 < remaining <= 5
    assert "no further batch is launched" in answer["Deployment"]["Events"][-1]["Message"]
    status, error = call(steering, tenant.account, name, "pause")
    assert status == 400 and "it is already paused" in error["message"], error

    time.sleep(max(0.0, paused_at + 8 - time.monotonic()))  # well past the 5 s bake
    described = tenant.sm.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "Updating" and _counts(described) == (2, 1)
    assert _new_status(described)["StatusMessage"].startswith("Deployment paused with")
    assert described["ProductionVariants"][0]["VariantStatus"][0]["StatusMessage"].startswith(
        "Rolling update paused at batch 1 of 2"
    )
    current = call(steering, tenant.account, name)[1]["Deployment"]
    assert current["Status"] == "Paused" and current["GreenWeight"] == pytest.approx(1 / 3)
    assert current["Rolling"]["BlueTarget"] == 2 and current["Rolling"]["GreenTarget"] == 1
    answers = [_predictions(tenant.invoke(name)) == pytest.approx(_expected(_booster(5))) for _ in range(40)]
    assert any(answers) and not all(answers)  # both fleets serve while paused

    resumed = time.monotonic()
    out = cli(steering, tenant.account, "resume", name, "--reason", "fine")
    assert "Resumed by" in out and "seconds left" in out and "fine" in out, out
    done = tenant.wait(name, timeout=60)
    assert done["EndpointStatus"] == "InService", done.get("FailureReason")
    assert done["EndpointConfigName"] == new and "FailureReason" not in done
    assert time.monotonic() - resumed >= remaining + 5 - 0.5  # the bake's rest, then batch 2's full bake
    [variant] = done["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (2, 2)
    record = call(steering, tenant.account, name)[1]["History"][-1]
    kinds = [e["Event"] for e in record["Events"]]
    assert record["Status"] == "Completed"
    assert kinds.index("Paused") < kinds.index("Resumed") < kinds.index("BatchRetired")
    history = cli(steering, tenant.account, "history", name)
    for fragment in ("ROLLING, Completed", "Paused by", "Resumed by", "Reason: look", "BatchRetired"):
        assert fragment in history, history


def test_promote_skips_long_bakes_without_a_failed_request(steering: LiveServer) -> None:
    tenant = Tenant(steering)
    name, _, new = start_rolling(steering, tenant, wait=600)
    wait_baking(tenant, name)
    with Traffic(tenant, name) as traffic:
        started = time.monotonic()
        out = cli(steering, tenant.account, "promote", name)
        assert "Promote requested by" in out, out
        done = tenant.wait(name, timeout=60)
    assert done["EndpointStatus"] == "InService" and done["EndpointConfigName"] == new, done
    assert time.monotonic() - started < 60
    [variant] = done["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (2, 2)
    assert traffic.outcomes.get("ok", 0) > 0 and set(traffic.outcomes) == {"ok"}, traffic.outcomes
    record = call(steering, tenant.account, name)[1]["History"][-1]
    assert record["Status"] == "Completed" and "promoted by" in record["Reason"]
    kinds = [e["Event"] for e in record["Events"]]
    promoted = kinds.index("Promoted")
    assert kinds[promoted - 1] == "PromoteRequested" and "Baked" not in kinds[promoted:]
    assert kinds[promoted:].count("BatchRetired") == 2 and kinds[-1] == "Completed"


def test_abort_after_a_retired_batch_restores_the_old_capacity(steering: LiveServer) -> None:
    tenant = Tenant(steering)
    name, old, _ = start_rolling(steering, tenant, wait=8, RollbackMaximumBatchSize=ONE)
    poll(
        lambda: (
            tenant.sm.describe_endpoint(EndpointName=name)["ProductionVariants"][0]["CurrentInstanceCount"]
            == 1
        ),
        60,
        "the first old instance to retire",
    )
    with Traffic(tenant, name) as traffic:
        body = json.dumps({"Reason": "wrong model"}).encode()
        status, answer = call(steering, tenant.account, name, "abort", body)
        assert status == 200 and answer["Deployment"]["Status"] == "Aborting", answer
        status, error = call(steering, tenant.account, name, "promote")
        assert status == 400 and "it is already being aborted" in error["message"], error
        done = tenant.wait(name, timeout=60)
    assert done["EndpointStatus"] == "InService" and done["EndpointConfigName"] == old, done
    reason = done["FailureReason"]
    assert reason.startswith(f"Deployment was aborted by arn:aws:iam::{tenant.account}:root at "), reason
    assert reason.endswith("Reason: wrong model")
    [variant] = done["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (2, 2)
    assert set(traffic.outcomes) == {"ok"}, traffic.outcomes
    for _ in range(5):
        assert _predictions(tenant.invoke(name)) == pytest.approx(_expected(_booster(1)))
    record = call(steering, tenant.account, name)[1]["History"][-1]
    assert record["Status"] == "RolledBack" and record["Reason"] == reason
    kinds = [e["Event"] for e in record["Events"]]
    assert kinds[kinds.index("AbortRequested") :] == [
        "AbortRequested",
        "Aborted",
        "TrafficRolledBack",
        "OldCapacityRestored",
        "RolledBack",
    ]
    assert "Aborted" in cli(steering, tenant.account, "history", name)


def test_a_paused_rolling_update_stays_paused_across_a_server_kill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir, env=ENV).start()
    restarted = None
    try:
        tenant = Tenant(server)
        name, _, new = start_rolling(server, tenant, wait=5)
        wait_baking(tenant, name)
        status, answer = call(server, tenant.account, name, "pause")
        assert status == 200, answer
        paused = answer["Deployment"]["Paused"]
        server.kill()
        killed = time.monotonic()
        restarted = LiveServer(data_dir, port=server.port, env=server.env).start()

        time.sleep(max(0.0, killed + 8 - time.monotonic()))  # past the bake's deadline had it kept going
        described = tenant.sm.describe_endpoint(EndpointName=name)
        assert described["EndpointStatus"] == "Updating" and _counts(described) == (2, 1), described
        assert _new_status(described)["StatusMessage"].startswith("Deployment paused with")
        current = call(restarted, tenant.account, name)[1]["Deployment"]
        assert current["Status"] == "Paused" and current["Paused"] == paused
        assert current["Step"] == answer["Deployment"]["Step"]

        status, answer = call(restarted, tenant.account, name, "resume")
        assert status == 200 and answer["Deployment"]["Status"] == "InProgress", answer
        done = tenant.wait(name, timeout=60)
        assert done["EndpointStatus"] == "InService", done.get("FailureReason")
        assert done["EndpointConfigName"] == new
        for _ in range(5):
            assert _predictions(tenant.invoke(name)) == pytest.approx(_expected(_booster(5)))
        deadline = time.monotonic() + 15  # no fleet leaked: only the 2 new instances run
        while len(_alive_workers(data_dir, tenant.account, name)) != 2:
            assert time.monotonic() < deadline, _alive_workers(data_dir, tenant.account, name)
            time.sleep(0.1)
    finally:
        if restarted is not None:
            restarted.stop()
        server.stop()
