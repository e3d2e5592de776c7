"""Stored alarms: state changes with their history and actions, crash-safe, shared by API and evaluator.

An alarm is a generic Resource of kind `cloudwatch-alarm`: `desired` holds its configuration as the
wire names it, `status` its StateValue, `observed` the rest of its state. A state change is written
first, together with a `pending` record of what must follow (history item, actions); `finish_pending`
does those and clears the record. A crash in between leaves the record, and the next tick finishes it:
history is never duplicated (items have stable ids), an action may run twice (SNS is at-least-once).

The evaluator changes many alarms per tick, so every step also comes batched: `transition` builds a
change that the caller writes with its others in one transaction (`Store.update_resources`), and
`finish_all_pending` appends all their history in one call and clears all their records in one
transaction. Three commits per tick instead of three per transition; the guarantees are the same.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sagemill.domain.errors import NotFound, VersionConflict
from sagemill.domain.resources import Resource
from sagemill.store.base import Store
from sagemill.store.metrics import AlarmHistoryItem, MetricStore

log = logging.getLogger("sagemill.alarms")

KIND = "cloudwatch-alarm"
METRIC_ALARM = "MetricAlarm"
COMPOSITE_ALARM = "CompositeAlarm"

Publish = Callable[[str, str, str, str, str | None], str]
"""(account_id, region, topic_arn, message, subject) → message id; raises when it cannot publish."""

_REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
}


def iso(seconds: float) -> str:
    """CloudWatch's timestamp form in JSON documents: 2026-12-03T09:41:12.345+0000."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def alarm_type(alarm: Resource) -> str:
    return str(alarm.desired.get("AlarmType", METRIC_ALARM))


def history_item(
    alarm: Resource, item_id: str, when: float, item_type: str, summary: str, data: dict[str, Any]
) -> AlarmHistoryItem:
    return AlarmHistoryItem(
        item_id=item_id,
        account_id=alarm.key.account_id,
        region=alarm.key.region,
        alarm_name=alarm.key.name,
        alarm_type=alarm_type(alarm),
        timestamp=when,
        item_type=item_type,
        summary=summary,
        data=json.dumps(data, separators=(",", ":")),
    )


def transition(
    alarm: Resource,
    state: str,
    reason: str,
    reason_data: dict[str, Any] | None,
    now: float,
    forced: bool = False,
) -> Resource:
    """The alarm in a new state, not yet written; with the pending follow-up when the value changes."""
    observed = dict(alarm.observed)
    old_state, old_reason = alarm.status, alarm.status_reason
    observed["StateReasonData"] = json.dumps(reason_data, separators=(",", ":")) if reason_data else None
    observed["StateUpdatedTimestamp"] = now
    if state != old_state:
        seq = int(observed.get("transitions", 0)) + 1
        observed["transitions"] = seq
        observed["StateTransitionedTimestamp"] = now
        observed["pending"] = {
            "seq": seq,
            "when": now,
            "old": {"stateValue": old_state, "stateReason": old_reason},
            "new": {"stateValue": state, "stateReason": reason, "stateReasonData": reason_data},
            "forced": forced,
        }
    return replace(alarm, status=state, status_reason=reason, observed=observed, updated_at=now)


def change_state(
    store: Store,
    alarm: Resource,
    state: str,
    reason: str,
    reason_data: dict[str, Any] | None,
    now: float,
    forced: bool = False,
) -> Resource | None:
    """Write a new state (and the pending follow-up when the value changes); None on a lost race."""
    try:
        return store.update_resource(
            transition(alarm, state, reason, reason_data, now, forced), alarm.version
        )
    except (VersionConflict, NotFound):
        return None


def finish_pending(
    store: Store, metrics: MetricStore, alarm: Resource, publish: Publish | None, now: float
) -> Resource:
    """History item and actions of the last transition, then the pending record cleared."""
    return finish_all_pending(store, metrics, [alarm], publish, now)[0]


def finish_all_pending(
    store: Store, metrics: MetricStore, alarms: Sequence[Resource], publish: Publish | None, now: float
) -> list[Resource]:
    """`finish_pending` for many alarms: one append of all their StateUpdate items, their actions (and
    one append of the actions' items), then one transaction clearing every record. Each alarm comes
    back as stored after that; one that changed meanwhile comes back as given, its record left for the
    next tick to finish again.
    """
    finishing = [(position, alarm) for position, alarm in enumerate(alarms) if alarm.observed.get("pending")]
    if not finishing:
        return list(alarms)
    # The state changes are in the history before any notification about them goes out.
    metrics.append_history([_state_update_item(alarm, alarm.observed["pending"]) for _, alarm in finishing])
    actions: list[AlarmHistoryItem] = []
    for _, alarm in finishing:
        actions += _run_actions(alarm, alarm.observed["pending"], publish, now)
    if actions:
        metrics.append_history(actions)
    # Records go last: a crash before this finishes them again, without duplicating history.
    clears = [
        (replace(alarm, observed={k: v for k, v in alarm.observed.items() if k != "pending"}), alarm.version)
        for _, alarm in finishing
    ]
    finished = list(alarms)
    for (position, _), cleared in zip(finishing, store.update_resources(clears), strict=True):
        if cleared is not None:
            finished[position] = cleared
    return finished


def _state_update_item(alarm: Resource, pending: dict[str, Any]) -> AlarmHistoryItem:
    old, new = pending["old"], pending["new"]
    return history_item(
        alarm,
        f"{alarm.arn}#{pending['seq']}",
        pending["when"],
        "StateUpdate",
        f"Alarm updated from {old['stateValue']} to {new['stateValue']}",
        {"version": "1.0", "oldState": old, "newState": _without_none(new)},
    )


def _run_actions(
    alarm: Resource, pending: dict[str, Any], publish: Publish | None, now: float
) -> list[AlarmHistoryItem]:
    """Run the actions of the pending transition; the history item of each."""
    items = []
    for index, action in enumerate(_actions_for(alarm, pending["new"]["stateValue"])):
        ok, detail = _run_action(alarm, action, pending, publish)
        summary = (
            f"Successfully executed action {action}" if ok else f"Failed to execute action {action}. {detail}"
        )
        data: dict[str, Any] = {"actionState": "Succeeded" if ok else "Failed"}
        data["notificationResource"] = action
        data["stateUpdateTimestamp"] = int(pending["when"] * 1000)
        if ok:
            data["publishedMessage"] = detail
        item_id = f"{alarm.arn}#{pending['seq']}#a{index}"
        items.append(history_item(alarm, item_id, now, "Action", summary, data))
    return items


def _without_none(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if v is not None}


def _actions_for(alarm: Resource, state: str) -> list[str]:
    if not alarm.desired.get("ActionsEnabled", True):
        return []
    field = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}[
        state
    ]
    return list(alarm.desired.get(field) or [])


def _run_action(
    alarm: Resource, action: str, pending: dict[str, Any], publish: Publish | None
) -> tuple[bool, str]:
    if not action.startswith("arn:aws:sns:"):
        return False, "Sagemill runs SNS topic actions only."
    if publish is None:
        return False, "Notifications are not configured on this server."
    try:
        message_id = publish(
            alarm.key.account_id,
            alarm.key.region,
            action,
            json.dumps(notification(alarm, pending)),
            subject(alarm, pending["new"]["stateValue"]),
        )
    except Exception as exc:  # a topic that is gone or a queue error: recorded, never fatal
        log.warning("alarm %s: action %s failed: %s", alarm.key.name, action, exc)
        return False, str(exc)[:256]
    return True, message_id


def subject(alarm: Resource, state: str) -> str:
    region = _REGION_NAMES.get(alarm.key.region, alarm.key.region)
    return f'{state}: "{alarm.key.name}" in {region}'[:100]


def notification(alarm: Resource, pending: dict[str, Any]) -> dict[str, Any]:
    """The JSON document CloudWatch publishes to an alarm's SNS topics."""
    desired = alarm.desired
    message: dict[str, Any] = {
        "AlarmName": alarm.key.name,
        "AlarmDescription": desired.get("AlarmDescription"),
        "AWSAccountId": alarm.key.account_id,
        "AlarmConfigurationUpdatedTimestamp": iso(alarm.observed.get("configured", alarm.created_at)),
        "NewStateValue": pending["new"]["stateValue"],
        "NewStateReason": pending["new"]["stateReason"],
        "StateChangeTime": iso(pending["when"]),
        "Region": _REGION_NAMES.get(alarm.key.region, alarm.key.region),
        "AlarmArn": alarm.arn,
        "OldStateValue": pending["old"]["stateValue"],
        "OKActions": desired.get("OKActions") or [],
        "AlarmActions": desired.get("AlarmActions") or [],
        "InsufficientDataActions": desired.get("InsufficientDataActions") or [],
    }
    if alarm_type(alarm) == COMPOSITE_ALARM:
        message["AlarmRule"] = desired.get("AlarmRule")
        return message
    trigger: dict[str, Any] = {
        "Period": desired.get("Period"),
        "EvaluationPeriods": desired.get("EvaluationPeriods"),
        "DatapointsToAlarm": desired.get("DatapointsToAlarm", desired.get("EvaluationPeriods")),
        "ComparisonOperator": desired.get("ComparisonOperator"),
        "Threshold": desired.get("Threshold"),
        "TreatMissingData": desired.get("TreatMissingData", "missing"),
        "EvaluateLowSampleCountPercentile": desired.get("EvaluateLowSampleCountPercentile", ""),
    }
    if desired.get("Metrics"):
        trigger["Metrics"] = desired["Metrics"]
    else:
        trigger.update(
            {
                "MetricName": desired.get("MetricName"),
                "Namespace": desired.get("Namespace"),
                "StatisticType": "ExtendedStatistic" if desired.get("ExtendedStatistic") else "Statistic",
                "Statistic": desired.get("ExtendedStatistic") or str(desired.get("Statistic", "")).upper(),
                "Unit": desired.get("Unit"),
                "Dimensions": [
                    {"value": d["Value"], "name": d["Name"]} for d in desired.get("Dimensions") or []
                ],
            }
        )
    message["Trigger"] = trigger
    return message
