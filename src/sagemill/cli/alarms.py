"""`sagemill alarms`: every CloudWatch alarm, its state and why, through the server's own AWS API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from sagemill.cli.remote import add_server_options, client, failed

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
_OPERATORS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def add_commands(parser: argparse.ArgumentParser) -> None:
    add_server_options(parser)
    parser.add_argument("--state", choices=STATES, help="only alarms in this state")
    parser.add_argument("--prefix", help="only alarms whose name starts with this")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of a table")


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        alarms = [summarize(a) for a in fetch(client(args, "cloudwatch"), args.state, args.prefix)]
    except (ClientError, BotoCoreError) as exc:
        return failed(exc, args.endpoint_url)
    if args.json:
        json.dump({"Alarms": alarms}, out, indent=2)
        print(file=out)
    else:
        print_table(alarms, out)
    return 0


def fetch(cloudwatch: Any, state: str | None, prefix: str | None) -> list[tuple[str, dict[str, Any]]]:
    """(alarm type, DescribeAlarms shape) of every matching alarm, metric and composite, by name."""
    params: dict[str, Any] = {"AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
    if state:
        params["StateValue"] = state
    if prefix:
        params["AlarmNamePrefix"] = prefix
    found: list[tuple[str, dict[str, Any]]] = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(**params):
        found += [("MetricAlarm", a) for a in page.get("MetricAlarms", [])]
        found += [("CompositeAlarm", a) for a in page.get("CompositeAlarms", [])]
    return sorted(found, key=lambda item: item[1]["AlarmName"])


def warning_for(alarm: Mapping[str, Any]) -> str | None:
    """The server's never-fires warning, recomputed from the alarm as DescribeAlarms returns it.

    The server stores it with the alarm but the API has no field for it; the check is the same
    function the server runs on PutMetricAlarm, so both always agree.
    """
    from sagemill.services.cloudwatch.alarm_config import warning_of

    try:
        return warning_of(alarm)
    except (KeyError, ValueError, TypeError):
        return None  # a shape the check does not understand is not worth failing the listing for


def summarize(item: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    alarm_type, alarm = item
    changed = alarm.get("StateTransitionedTimestamp") or alarm.get("StateUpdatedTimestamp")
    return {
        "AlarmName": alarm["AlarmName"],
        "AlarmType": alarm_type,
        "StateValue": alarm["StateValue"],
        "StateReason": alarm.get("StateReason", ""),
        "StateTransitionedTimestamp": _iso(changed) if changed else None,
        "Condition": _condition(alarm_type, alarm),
        "ActionsEnabled": alarm.get("ActionsEnabled", True),
        "Warning": warning_for(alarm) if alarm_type == "MetricAlarm" else None,
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _readable(iso: str | None) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC") if iso else "-"


def _condition(alarm_type: str, alarm: Mapping[str, Any]) -> str:
    """What the alarm watches, in one line: the rule, or metric, statistic, comparison and window."""
    if alarm_type == "CompositeAlarm":
        return f"rule {alarm.get('AlarmRule', '')}"
    operator = alarm.get("ComparisonOperator", "")
    threshold = alarm.get("Threshold")
    comparison = f"{_OPERATORS.get(operator, operator)} {'?' if threshold is None else f'{threshold:g}'}"
    periods = alarm.get("EvaluationPeriods", 1)
    window = f"{alarm.get('DatapointsToAlarm', periods)} of {periods}"
    if alarm.get("Metrics"):
        returned: Mapping[str, Any] = next((m for m in alarm["Metrics"] if m.get("ReturnData", True)), {})
        subject = returned.get("Expression") or returned.get("Id", "?")
        return f"math {subject} {comparison} ({window})"
    dimensions = ",".join(f"{d['Name']}={d['Value']}" for d in alarm.get("Dimensions", []))
    statistic = alarm.get("ExtendedStatistic") or alarm.get("Statistic", "?")
    metric = f"{alarm.get('Namespace')} {alarm.get('MetricName')}" + (f"[{dimensions}]" if dimensions else "")
    return f"{metric} {statistic} {comparison} ({window} x {alarm.get('Period')}s)"


def print_table(alarms: list[dict[str, Any]], out: TextIO) -> None:
    if not alarms:
        print("No alarms.", file=out)
        return
    width = max(24, *(len(a["AlarmName"]) for a in alarms))
    print(f"{'NAME':{width}} {'STATE':17} {'CHANGED':23} CONDITION", file=out)
    for alarm in alarms:
        changed = _readable(alarm["StateTransitionedTimestamp"])
        print(
            f"{alarm['AlarmName']:{width}} {alarm['StateValue']:17} {changed:23} {alarm['Condition']}",
            file=out,
        )
        if alarm["StateReason"]:
            print(f"  why: {alarm['StateReason']}", file=out)
        if not alarm["ActionsEnabled"]:
            print("  actions disabled", file=out)
        if alarm["Warning"]:
            print(f"  WARNING: {alarm['Warning']}", file=out)
