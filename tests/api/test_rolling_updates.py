"""Rolling updates through boto3: batches under steady load, alarm rollback, the old capacity restored."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from endpoint_tenant import Tenant, booster, wrong_features
from test_guardrails import Traffic, _alarm

from sagemill.testing.live_server import LiveServer


@pytest.fixture(scope="module")
def rolling(alarm_server: LiveServer) -> LiveServer:
    """The module's server, evaluating alarms every second (tests/api/conftest.py)."""
    return alarm_server


def _policy(batch: dict[str, Any], wait: int, alarm: str, **extra: Any) -> dict[str, Any]:
    return {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": batch,
            "WaitIntervalInSeconds": wait,
            "MaximumExecutionTimeoutInSeconds": 600,
            **extra,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]},
    }


class Watcher:
    """DescribeEndpoint in a loop while an update runs, keeping every distinct view of the fleets."""

    def __init__(self, tenant: Tenant, endpoint: str) -> None:
        self.tenant, self.endpoint = tenant, endpoint
        self.views: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sm = self.tenant.sm
        while not self._stop.is_set():
            described = sm.describe_endpoint(EndpointName=self.endpoint)
            if described["EndpointStatus"] == "Updating":
                self.views.append(described)
            time.sleep(0.05)

    def counts(self, key: str) -> set[tuple[int, int]]:
        """(CurrentInstanceCount, DesiredInstanceCount) seen of the old (ProductionVariants) or new fleet."""
        seen = set()
        for view in self.views:
            variants = (
                view.get("ProductionVariants", [])
                if key == "old"
                else view.get("PendingDeploymentSummary", {}).get("ProductionVariants", [])
            )
            seen |= {(v["CurrentInstanceCount"], v["DesiredInstanceCount"]) for v in variants}
        return seen

    def messages(self, key: str) -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        for view in self.views:
            variants = (
                view.get("ProductionVariants", [])
                if key == "old"
                else view.get("PendingDeploymentSummary", {}).get("ProductionVariants", [])
            )
            for variant in variants:
                for status in variant.get("VariantStatus", []):
                    if (status["Status"], status["StatusMessage"]) not in seen:
                        seen.append((status["Status"], status["StatusMessage"]))
        return seen

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _wait_alarm_ok(cw: Any, tenant: Tenant, endpoint: str, alarm: str) -> None:
    deadline = time.monotonic() + 60
    while cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] != "OK":
        assert time.monotonic() < deadline, "the alarm never reached OK"
        tenant.invoke(endpoint)
        time.sleep(0.2)


def test_rolling_in_batches_of_two_completes_without_a_failed_request(rolling: LiveServer) -> None:
    tenant = Tenant(rolling)
    cw = rolling.client("cloudwatch", account=tenant.account)
    name, _ = tenant.deploy([("AllTraffic", tenant.model(booster(1)), 4, 1.0)])
    alarm = f"{name}-model-errors"
    _alarm(cw, alarm, name)
    _wait_alarm_ok(cw, tenant, name, alarm)
    good = tenant.config([("AllTraffic", tenant.model(booster(3)), 4, 1.0)])
    config = _policy({"Type": "CAPACITY_PERCENT", "Value": 50}, 2, alarm)
    with Traffic(tenant, name) as traffic, Watcher(tenant, name) as watcher:
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=good, DeploymentConfig=config)
        done = tenant.wait(name, timeout=90)
    assert done["EndpointStatus"] == "InService", done.get("FailureReason")
    assert done["EndpointConfigName"] == good and "FailureReason" not in done
    assert "PendingDeploymentSummary" not in done
    [variant] = done["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (4, 4)
    assert done["LastDeploymentConfig"]["RollingUpdatePolicy"]["MaximumBatchSize"]["Value"] == 50
    assert traffic.outcomes.get("ok", 0) > 50 and set(traffic.outcomes) == {"ok"}, traffic.outcomes

    # Describe during the update: Updating, the old fleet shrinking by batches, the new one growing.
    assert watcher.views, "never saw the endpoint Updating"
    assert all(v["EndpointConfigName"] != good for v in watcher.views)
    assert {(4, 4), (2, 4)} <= watcher.counts("old"), watcher.counts("old")
    assert {(2, 4), (4, 4)} <= watcher.counts("new"), watcher.counts("new")
    new_messages = watcher.messages("new")
    assert ("Creating", "Launching 2 instance(s).") in new_messages, new_messages
    assert (
        "Baking",
        "Baking for 2 seconds (WaitIntervalInSeconds) with traffic enabled on new capacity of 2 instance(s).",
    ) in new_messages, new_messages
    old_messages = [m for s, m in watcher.messages("old") if s == "Updating"]
    assert any(m.startswith("Rolling update, batch 2 of 2: 2 of 4 old") for m in old_messages), old_messages


def test_rolling_to_a_failing_model_rolls_back_on_the_alarm(rolling: LiveServer) -> None:
    tenant = Tenant(rolling)
    cw = rolling.client("cloudwatch", account=tenant.account)
    name, _ = tenant.deploy([("AllTraffic", tenant.model(booster(1)), 4, 1.0)])
    first = tenant.sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    alarm = f"{name}-model-errors"
    _alarm(cw, alarm, name)
    _wait_alarm_ok(cw, tenant, name, alarm)
    bad = tenant.config([("AllTraffic", tenant.model(wrong_features()), 4, 1.0)])
    config = _policy(
        {"Type": "INSTANCE_COUNT", "Value": 2},
        60,
        alarm,
        RollbackMaximumBatchSize={"Type": "INSTANCE_COUNT", "Value": 1},
    )
    with Traffic(tenant, name) as traffic:
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=bad, DeploymentConfig=config)
        updating = tenant.wait(name, timeout=10, until=("Updating",))
        assert updating["EndpointStatus"] == "Updating"
        done = tenant.wait(name, timeout=90)
    assert done["EndpointStatus"] == "InService"
    assert done["EndpointConfigName"] == first
    reason = done["FailureReason"]
    assert alarm in reason and "rolled back" in reason and "rolling update, batch 1 of 2" in reason, reason
    assert "PendingDeploymentSummary" not in done
    [variant] = done["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (4, 4)
    assert traffic.outcomes.get("ok", 0) > 0 and traffic.outcomes.get("ModelError", 0) > 0, traffic.outcomes
    # After the rollback every request is answered by the old model again.
    for _ in range(10):
        tenant.invoke(name)


def test_a_rollback_after_retired_batches_relaunches_the_old_capacity(rolling: LiveServer) -> None:
    """The guard alarm watches a metric the test controls, so it fires once old instances are gone."""
    tenant = Tenant(rolling)
    cw = rolling.client("cloudwatch", account=tenant.account)
    name, _ = tenant.deploy([("AllTraffic", tenant.model(booster(1)), 4, 1.0)])
    first = tenant.sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    alarm = f"{name}-manual"
    dimensions = [{"Name": "EndpointName", "Value": name}]
    cw.put_metric_alarm(
        AlarmName=alarm,
        ActionsEnabled=False,
        MetricName="Trip",
        Namespace="Sagemill/Test",
        Statistic="Maximum",
        Dimensions=dimensions,
        Period=10,
        EvaluationPeriods=1,
        Threshold=0.5,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    good = tenant.config([("AllTraffic", tenant.model(booster(3)), 4, 1.0)])
    config = _policy(
        {"Type": "INSTANCE_COUNT", "Value": 1},
        3,
        alarm,
        RollbackMaximumBatchSize={"Type": "INSTANCE_COUNT", "Value": 1},
    )
    with Traffic(tenant, name) as traffic:
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=good, DeploymentConfig=config)
        deadline = time.monotonic() + 60
        while True:
            described = tenant.sm.describe_endpoint(EndpointName=name)
            assert described["EndpointStatus"] == "Updating", described.get("FailureReason")
            if described["ProductionVariants"][0]["CurrentInstanceCount"] <= 2:
                break
            assert time.monotonic() < deadline, "no old batch was retired"
            time.sleep(0.05)
        cw.put_metric_data(
            Namespace="Sagemill/Test",
            MetricData=[{"MetricName": "Trip", "Dimensions": dimensions, "Value": 1}],
        )
        done = tenant.wait(name, timeout=60)
    assert done["EndpointStatus"] == "InService"
    assert done["EndpointConfigName"] == first and alarm in done["FailureReason"], done.get("FailureReason")
    [variant] = done["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (4, 4)
    assert set(traffic.outcomes) == {"ok"}, traffic.outcomes


@pytest.mark.parametrize(
    ("variants", "fragment"),
    [
        ([("AllTraffic", 2, 0.5), ("Other", 2, 0.5)], "more than one production variant"),
        ([("Renamed", 2, 1.0)], "must keep the production variant name"),
    ],
)
def test_rolling_refuses_multi_variant_and_renamed_configs(
    rolling: LiveServer, variants: list[tuple[str, int, float]], fragment: str
) -> None:
    tenant = Tenant(rolling)
    model = tenant.model()
    name, _ = tenant.deploy([("AllTraffic", model, 2, 1.0)])
    target = tenant.config([(v, model, count, weight) for v, count, weight in variants])
    config = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 0,
        }
    }
    with pytest.raises(ClientError) as caught:
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=target, DeploymentConfig=config)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException" and fragment in error["Message"], error
    assert tenant.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"


def _alive_workers(data_dir: Path, account: str, name: str) -> set[str]:
    """Ids of the endpoint's instances whose model server process is still running."""
    base = data_dir / "endpoints" / account / "us-east-1" / name / "instances"
    alive = set()
    for record in base.glob("*/worker/worker.json"):
        try:
            os.kill(int(json.loads(record.read_text())["pid"]), 0)
        except (ProcessLookupError, ValueError, KeyError):
            continue
        alive.add(record.parent.parent.name)
    return alive


def test_a_server_killed_while_baking_resumes_the_rolling_update(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir, env={"SAGEMILL_ALARM_EVALUATION_SECONDS": "1"}).start()
    restarted = None
    try:
        tenant = Tenant(server)
        name, _ = tenant.deploy([("AllTraffic", tenant.model(booster(1)), 4, 1.0)])
        cw = server.client("cloudwatch", account=tenant.account)
        alarm = f"{name}-model-errors"
        _alarm(cw, alarm, name)
        good = tenant.config([("AllTraffic", tenant.model(booster(3)), 4, 1.0)])
        config = _policy({"Type": "INSTANCE_COUNT", "Value": 2}, 4, alarm)
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=good, DeploymentConfig=config)
        deadline = time.monotonic() + 30
        while True:
            described = tenant.sm.describe_endpoint(EndpointName=name)
            pending = described.get("PendingDeploymentSummary", {}).get("ProductionVariants") or [{}]
            if (pending[0].get("VariantStatus") or [{}])[0].get("Status") == "Baking":
                break
            assert time.monotonic() < deadline, described
            time.sleep(0.05)
        server.kill()
        restarted = LiveServer(data_dir, port=server.port, env=server.env).start()
        done = tenant.wait(name, timeout=60)
        assert done["EndpointStatus"] == "InService", done.get("FailureReason")
        assert done["EndpointConfigName"] == good
        [variant] = done["ProductionVariants"]
        assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (4, 4)
        for _ in range(5):
            tenant.invoke(name)
        # No fleet leaked: the old instances are stopped, the new ones are the only ones running.
        deadline = time.monotonic() + 15
        while len(_alive_workers(data_dir, tenant.account, name)) != 4:
            assert time.monotonic() < deadline, _alive_workers(data_dir, tenant.account, name)
            time.sleep(0.1)
    finally:
        if restarted is not None:
            restarted.stop()
        server.stop()
