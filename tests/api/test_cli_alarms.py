"""`sagemill alarms` against a live server: states, reasons, filters, JSON and the never-fires warning."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from live_helpers import create_alarm, new_account, poll, run_sagemill

from sagemill.testing.live_server import LiveServer

PITFALL_WARNING = (
    "Alarm can never go to ALARM: Invocation4XXErrors is 1 or 0 per request, so its Average is between "
    "0 and 1 and never greater than 1.0"
)


def guardrail_alarm(cw: Any, name: str, metric: str, operator: str, **overrides: Any) -> None:
    """The deployment-guardrails walkthrough's alarm, with its metric and operator as arguments."""
    create_alarm(cw, name, MetricName=metric, ComparisonOperator=operator, **overrides)


def sagemill_alarms(server: LiveServer, account: str, *args: str) -> str:
    return run_sagemill(server, account, "alarms", *args)


def block(out: str, name: str) -> list[str]:
    """The alarm's own line and the indented lines under it."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(" ", 1)[0] == name)
    following = lines[start + 1 :]
    end = next((i for i, line in enumerate(following) if not line.startswith("  ")), len(following))
    return [lines[start], *following[:end]]


def wait_for_state(cw: Any, name: str, state: str, alarm_types: list[str], timeout: float = 60.0) -> None:
    def states() -> list[str]:
        found = cw.describe_alarms(AlarmNames=[name], AlarmTypes=alarm_types)
        return [a["StateValue"] for a in found["MetricAlarms"] + found["CompositeAlarms"]]

    seen = poll(states, lambda seen: seen[:1] == [state], timeout)
    assert seen[:1] == [state], f"{name} did not reach {state} within {timeout}s"


def test_lists_states_reasons_and_the_walkthrough_pitfall(alarm_server: LiveServer) -> None:
    account = new_account()
    cw = alarm_server.client("cloudwatch", account=account)
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

    out = sagemill_alarms(alarm_server, account)
    assert out.splitlines()[0].split() == ["NAME", "STATE", "CHANGED", "CONDITION"]
    names = [line.split(" ", 1)[0] for line in out.splitlines()[1:] if not line.startswith("  ")]
    assert names == ["any-trouble", "pitfall-4xx", "queue-depth", "sound-5xx"]

    pitfall = block(out, "pitfall-4xx")
    assert "AWS/SageMaker Invocation4XXErrors[EndpointName=ep,VariantName=AllTraffic]" in pitfall[0]
    assert "Average > 1 (1 of 1 x 60s)" in pitfall[0]
    assert pitfall[0].split()[1] in ("INSUFFICIENT_DATA", "OK")
    assert any(line.startswith("  why: ") for line in pitfall)
    assert "  actions disabled" in pitfall
    [warning] = [line for line in pitfall if line.startswith("  WARNING: ")]
    assert warning.startswith(f"  WARNING: {PITFALL_WARNING}"), warning
    # The server said the same when the alarm was put.
    assert "pitfall-4xx can never fire" in alarm_server.log()

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


def test_filters_and_json(alarm_server: LiveServer) -> None:
    account = new_account()
    cw = alarm_server.client("cloudwatch", account=account)
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

    listed = json.loads(sagemill_alarms(alarm_server, account, "--json", "--prefix", "prod-"))["Alarms"]
    assert [a["AlarmName"] for a in listed] == ["prod-forced", "prod-pitfall", "prod-sound"]
    by_name = {a["AlarmName"]: a for a in listed}
    assert by_name["prod-pitfall"]["Warning"].startswith(PITFALL_WARNING)
    assert by_name["prod-sound"]["Warning"] is None
    assert by_name["prod-forced"]["StateValue"] == "ALARM"
    assert by_name["prod-forced"]["StateReason"] == "Forced"
    assert all(a["AlarmType"] == "MetricAlarm" and a["ActionsEnabled"] is False for a in listed)
    assert all(datetime.fromisoformat(a["StateTransitionedTimestamp"]).tzinfo == UTC for a in listed)

    alarming = json.loads(sagemill_alarms(alarm_server, account, "--json", "--state", "ALARM"))["Alarms"]
    assert [a["AlarmName"] for a in alarming] == ["prod-forced"]
    assert sagemill_alarms(alarm_server, account, "--prefix", "nothing-") == "No alarms.\n"
