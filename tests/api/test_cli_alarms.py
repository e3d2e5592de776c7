"""`sagemill alarms` against a live server: states, reasons, filters, JSON and the never-fires warning."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sagemill.testing.live_server import LiveServer

PITFALL_WARNING = (
    "Alarm can never go to ALARM: Invocation4XXErrors is 1 or 0 per request, so its Average is between "
    "0 and 1 and never greater than 1.0"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Alarms evaluated every second, so waiting for a composite alarm takes a second, not ten."""
    live = LiveServer(
        tmp_path_factory.mktemp("cli-alarms"), env={"SAGEMILL_ALARM_EVALUATION_SECONDS": "1"}
    ).start()
    yield live
    live.stop()


def new_account() -> str:
    return str(100_000_000_000 + secrets.randbelow(900_000_000_000))


def guardrail_alarm(cw: Any, name: str, metric: str, operator: str, **overrides: Any) -> None:
    """The deployment-guardrails walkthrough's alarm function, with its metric and operator as arguments."""
    params: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": "Test SageMaker endpoint deployment auto-rollback alarm",
        "ActionsEnabled": False,
        "MetricName": metric,
        "Namespace": "AWS/SageMaker",
        "Statistic": "Average",
        "Dimensions": [
            {"Name": "EndpointName", "Value": "my-endpoint"},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": operator,
        "TreatMissingData": "notBreaching",
    }
    cw.put_metric_alarm(**{**params, **overrides})


def sagemill_alarms(server: LiveServer, account: str, *args: str) -> str:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_ENDPOINT_URL": server.url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "sagemill", "alarms", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def block(out: str, name: str) -> list[str]:
    """The alarm's own line and the indented lines under it."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(" ", 1)[0] == name)
    following = lines[start + 1 :]
    end = next((i for i, line in enumerate(following) if not line.startswith("  ")), len(following))
    return [lines[start], *following[:end]]


def wait_for_state(cw: Any, name: str, state: str, alarm_types: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = cw.describe_alarms(AlarmNames=[name], AlarmTypes=alarm_types)
        alarms = found["MetricAlarms"] + found["CompositeAlarms"]
        if alarms and alarms[0]["StateValue"] == state:
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} did not reach {state} within {timeout}s")


def test_lists_states_reasons_and_the_walkthrough_pitfall(server: LiveServer) -> None:
    account = new_account()
    cw = server.client("cloudwatch", account=account)
    # The walkthrough's pitfall: Average of a 0/1 metric is at most 1, so "> 1" can never be true.
    guardrail_alarm(cw, "pitfall-4xx", "Invocation4XXErrors", "GreaterThanThreshold")
    guardrail_alarm(cw, "sound-5xx", "Invocation5XXErrors", "GreaterThanOrEqualToThreshold")
    # Missing data counts as breaching, so evaluation keeps this one in ALARM once it is there: the
    # forced reason below stays (the evaluator writes only transitions), whenever it runs.
    cw.put_metric_alarm(
        AlarmName="queue-depth",
        Namespace="Sagemill/Queue",
        MetricName="Depth",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="breaching",
    )
    cw.set_alarm_state(AlarmName="queue-depth", StateValue="ALARM", StateReason="Forced by the CLI test")
    cw.put_composite_alarm(AlarmName="any-trouble", AlarmRule='ALARM("queue-depth") OR ALARM("sound-5xx")')
    wait_for_state(cw, "any-trouble", "ALARM", ["CompositeAlarm"])

    out = sagemill_alarms(server, account)
    assert out.splitlines()[0].split() == ["NAME", "STATE", "CHANGED", "CONDITION"]
    names = [line.split(" ", 1)[0] for line in out.splitlines()[1:] if not line.startswith("  ")]
    assert names == ["any-trouble", "pitfall-4xx", "queue-depth", "sound-5xx"]

    pitfall = block(out, "pitfall-4xx")
    assert "AWS/SageMaker Invocation4XXErrors[EndpointName=my-endpoint,VariantName=AllTraffic]" in pitfall[0]
    assert "Average > 1 (1 of 1 x 60s)" in pitfall[0]
    assert pitfall[0].split()[1] in ("INSUFFICIENT_DATA", "OK")
    assert any(line.startswith("  why: ") for line in pitfall)
    assert "  actions disabled" in pitfall
    [warning] = [line for line in pitfall if line.startswith("  WARNING: ")]
    assert warning.startswith(f"  WARNING: {PITFALL_WARNING}"), warning
    # The server said the same when the alarm was put.
    assert "pitfall-4xx can never fire" in server.log()

    sound = block(out, "sound-5xx")
    assert "Average >= 1 (1 of 1 x 60s)" in sound[0]
    assert not any("WARNING" in line for line in sound)

    queue = block(out, "queue-depth")
    state, changed_day, changed_time, utc = queue[0].split()[1:5]
    assert state == "ALARM" and utc == "UTC"
    assert time.strptime(f"{changed_day} {changed_time}", "%Y-%m-%d %H:%M:%S")
    assert "  why: Forced by the CLI test" in queue

    composite = block(out, "any-trouble")
    assert composite[0].split()[1] == "ALARM"
    assert 'rule ALARM("queue-depth") OR ALARM("sound-5xx")' in composite[0]
    assert any(line.startswith("  why: ") and "queue-depth" in line for line in composite)


def test_filters_and_json(server: LiveServer) -> None:
    account = new_account()
    cw = server.client("cloudwatch", account=account)
    guardrail_alarm(cw, "prod-pitfall", "Invocation4XXErrors", "GreaterThanThreshold")
    guardrail_alarm(cw, "prod-sound", "Invocation5XXErrors", "GreaterThanOrEqualToThreshold")
    guardrail_alarm(cw, "test-sound", "Invocation5XXErrors", "GreaterThanOrEqualToThreshold")
    guardrail_alarm(
        cw,
        "prod-forced",
        "Invocation5XXErrors",
        "GreaterThanOrEqualToThreshold",
        TreatMissingData="breaching",
    )
    cw.set_alarm_state(AlarmName="prod-forced", StateValue="ALARM", StateReason="Forced")

    listed = json.loads(sagemill_alarms(server, account, "--json", "--prefix", "prod-"))["Alarms"]
    assert [a["AlarmName"] for a in listed] == ["prod-forced", "prod-pitfall", "prod-sound"]
    by_name = {a["AlarmName"]: a for a in listed}
    assert by_name["prod-pitfall"]["Warning"].startswith(PITFALL_WARNING)
    assert by_name["prod-sound"]["Warning"] is None
    assert by_name["prod-forced"]["StateValue"] == "ALARM"
    assert by_name["prod-forced"]["StateReason"] == "Forced"
    assert all(a["AlarmType"] == "MetricAlarm" and a["ActionsEnabled"] is False for a in listed)
    assert all(datetime.fromisoformat(a["StateTransitionedTimestamp"]).tzinfo == UTC for a in listed)

    alarming = json.loads(sagemill_alarms(server, account, "--json", "--state", "ALARM"))["Alarms"]
    assert [a["AlarmName"] for a in alarming] == ["prod-forced"]
    assert sagemill_alarms(server, account, "--prefix", "nothing-") == "No alarms.\n"
