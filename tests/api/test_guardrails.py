"""Deployment guardrails driven by boto3 as the AWS walkthrough does: canary rolls back, linear completes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from endpoint_tenant import Tenant, booster, wrong_features

from sagemill.testing.live_server import LiveServer


@pytest.fixture(scope="module")
def guarded(alarm_server: LiveServer) -> LiveServer:
    """The module's server, evaluating alarms every second (tests/api/conftest.py)."""
    return alarm_server


def _alarm(cw: Any, name: str, endpoint: str) -> None:
    # The walkthrough's alarm shape, with a threshold a 0/1 rate can cross (its Average ≥ 1 rarely fires).
    cw.put_metric_alarm(
        AlarmName=name,
        ActionsEnabled=False,
        MetricName="InvocationModelErrors",
        Namespace="AWS/SageMaker",
        Statistic="Average",
        Dimensions=[
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        Period=10,
        EvaluationPeriods=1,
        Threshold=0.1,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )


class Traffic:
    """Steady invoke_endpoint traffic in a thread, counting answers by outcome."""

    def __init__(self, tenant: Tenant, endpoint: str) -> None:
        self.tenant, self.endpoint = tenant, endpoint
        self.outcomes: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tenant.invoke(self.endpoint)
                key = "ok"
            except ClientError as exc:
                key = exc.response["Error"]["Code"]
            self.outcomes[key] = self.outcomes.get(key, 0) + 1
            time.sleep(0.02)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_canary_rolls_back_on_alarm_then_linear_completes(guarded: LiveServer) -> None:
    tenant = Tenant(guarded)
    cw = guarded.client("cloudwatch", account=tenant.account)
    name, _ = tenant.deploy([("AllTraffic", tenant.model(booster(1)), 2, 1.0)])
    first = tenant.sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    _alarm(cw, f"{name}-model-errors", name)
    bad = tenant.config([("AllTraffic", tenant.model(wrong_features()), 2, 1.0)])
    canary = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                "WaitIntervalInSeconds": 60,
            },
            "TerminationWaitInSeconds": 0,
            "MaximumExecutionTimeoutInSeconds": 600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": f"{name}-model-errors"}]},
    }
    with Traffic(tenant, name) as traffic:
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=bad, DeploymentConfig=canary)
        updating = tenant.wait(name, timeout=10, until=("Updating",))
        assert updating["EndpointStatus"] == "Updating"
        done = tenant.wait(name, timeout=90)
    assert done["EndpointStatus"] == "InService"
    assert done["EndpointConfigName"] == first
    assert f"{name}-model-errors" in done["FailureReason"] and "rolled back" in done["FailureReason"]
    assert "PendingDeploymentSummary" not in done
    assert (
        done["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"]
        == "CANARY"
    )
    assert traffic.outcomes.get("ok", 0) > 0 and traffic.outcomes.get("ModelError", 0) > 0
    # After the rollback every request is answered by the old model again.
    assert [tenant.invoke(name)["InvokedProductionVariant"] for _ in range(5)] == ["AllTraffic"] * 5

    good = tenant.config([("AllTraffic", tenant.model(booster(3)), 2, 1.0)])
    linear = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "LINEAR",
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                "WaitIntervalInSeconds": 3,
            },
            "TerminationWaitInSeconds": 2,
            "MaximumExecutionTimeoutInSeconds": 600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": f"{name}-model-errors"}]},
    }
    # The old model's answers bring the alarm back to OK once the failed canary's period has passed.
    deadline = time.monotonic() + 60
    while cw.describe_alarms(AlarmNames=[f"{name}-model-errors"])["MetricAlarms"][0]["StateValue"] != "OK":
        assert time.monotonic() < deadline, "the alarm never returned to OK"
        tenant.invoke(name)
        time.sleep(0.2)
    with Traffic(tenant, name) as traffic:
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=good, DeploymentConfig=linear)
        tenant.wait(name, timeout=10, until=("Updating",))
        done = tenant.wait(name, timeout=90)
    assert done["EndpointStatus"] == "InService", done.get("FailureReason")
    assert done["EndpointConfigName"] == good
    assert "FailureReason" not in done
    assert set(traffic.outcomes) == {"ok"}, traffic.outcomes

    # The walkthrough's last step: reuse the deployment config for the next update.
    tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=first, RetainDeploymentConfig=True)
    done = tenant.wait(name, timeout=90)
    assert done["EndpointConfigName"] == first and done["EndpointStatus"] == "InService"
    assert (
        done["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"]
        == "LINEAR"
    )


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 5000}
                }
            },
            "failed to satisfy constraint",
        ),
        (
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
                },
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "no-such-alarm"}]},
            },
            "no-such-alarm",
        ),
        (
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "CANARY",
                        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 2},
                        "WaitIntervalInSeconds": 0,
                    }
                }
            },
            "50%",
        ),
    ],
)
def test_bad_deployment_configs_are_refused(
    guarded: LiveServer, config: dict[str, Any], fragment: str
) -> None:
    tenant = Tenant(guarded)
    name, _ = tenant.deploy([("AllTraffic", tenant.model(), 1, 1.0)])
    target = tenant.config([("AllTraffic", tenant.model(), 1, 1.0)])
    with pytest.raises(ClientError) as caught:
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=target, DeploymentConfig=config)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException" and fragment in error["Message"], error
    assert tenant.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
