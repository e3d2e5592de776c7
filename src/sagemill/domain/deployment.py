"""Blue/green deployments with guardrails: the rollout walked one persisted, pure step at a time.

The endpoint reconciler calls `advance` once the new (green) fleet is healthy. The deployment's
progress lives in `EndpointState.extra["deployment"]`: the effective DeploymentConfig, the index of
the current plan step, when it started, the green fleet's traffic share, the overall deadline, and a
timeline of what happened and why. Waits are stored as timestamps, so a restarted server resumes
the step it was in with the same deadline. Any listed alarm in ALARM while green takes traffic (or
the overall deadline) rolls back: all traffic to blue in one step, green torn down.

Operators steer a deployment in flight through Sagemill's extension (domain/deployment_controls.py writes
the flags below; this module honours them on the next tick):
* `paused` {since, by, remaining, step}: no step moves (bakes stop, the deadline too); alarms are still
  watched and can roll back. Resuming continues the bake with its `remaining` seconds.
* `promote` {at, by}: the remaining shift and bake steps are skipped: 100% on green, then blue is retired.
* `abort` {at, by}: roll back now, with a FailureReason naming who aborted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sagemill.domain.endpoints import EndpointState, VariantStatusName, with_status
from sagemill.domain.rollout import Step, plan_blue_green

DEPLOYMENT = "deployment"
LAST_CONFIG = "last_deployment_config"
HISTORY = "deployments"
MAX_EVENTS = 200
MAX_HISTORY = 10
PAUSED = "paused"
PROMOTE = "promote"
ABORT = "abort"
BAKES = ("bake", "final_bake")

AlarmStates = Callable[[list[str]], dict[str, str]]
"""Alarm names → their StateValue ("" for an alarm that does not exist)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the reconciler must do after a step: keep going (None), promote green, or roll back."""

    action: str | None
    reason: str = ""


def start(config: Mapping[str, Any] | None, now: float) -> dict[str, Any]:
    """The persisted record of a new deployment (None config: all at once, as without guardrails)."""
    alarms = [
        a["AlarmName"] for a in ((config or {}).get("AutoRollbackConfiguration") or {}).get("Alarms", [])
    ]
    policy = (config or {}).get("BlueGreenUpdatePolicy") or {}
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    watched = f"alarms watched: {', '.join(alarms)}" if alarms else "no alarms to watch"
    message = f"Deployment started ({deployment_type(config)}, {watched}); provisioning the new fleet."
    return {
        "config": dict(config) if config else None,
        "started": now,
        "deadline": now + float(timeout) if timeout else None,
        "alarms": alarms,
        "step": 0,
        "step_started": None,
        "green_weight": 0.0,
        "events": [_event(now, "Started", message)],
    }


def deployment_type(config: Mapping[str, Any] | None) -> str:
    """ROLLING, or the blue/green TrafficRoutingConfiguration Type (ALL_AT_ONCE without a config)."""
    if config and config.get("RollingUpdatePolicy") is not None:
        return "ROLLING"
    routing = ((config or {}).get("BlueGreenUpdatePolicy") or {}).get("TrafficRoutingConfiguration") or {}
    return str(routing.get("Type") or "ALL_AT_ONCE")


def _event(now: float, kind: str, message: str, **data: Any) -> dict[str, Any]:
    return {"time": now, "kind": kind, "message": message, **data}


def seconds(value: float) -> str:
    """Seconds for messages: '200', '1.7'."""
    return f"{round(value, 1):g}"


def timestamp(moment: float) -> str:
    """A moment as ISO 8601 UTC to the second, for messages."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_for(state: EndpointState) -> tuple[Step, ...]:
    deployment = state.extra[DEPLOYMENT]
    new_count = sum(v.desired_count for v in state.pending) or 1
    old_count = sum(len(v.ready) for v in state.fleet)
    return plan_blue_green(deployment["config"], new_count, old_count)


def aborted_reason(abort: Mapping[str, Any]) -> str:
    """The FailureReason of a deployment an operator aborted."""
    reason = (
        f"Deployment was aborted by {abort.get('by') or 'an operator'} at {timestamp(float(abort['at']))}; "
        "traffic was rolled back to the previous endpoint configuration."
    )
    return f"{reason} Reason: {abort['note']}" if abort.get("note") else reason


def alarm_summary(states: Mapping[str, str]) -> str:
    """'A=OK, B=INSUFFICIENT_DATA' ('A=missing' for an alarm that does not exist)."""
    return ", ".join(f"{name}={value or 'missing'}" for name, value in states.items())


def check_guards(
    state: EndpointState, now: float, alarm_states: AlarmStates
) -> tuple[EndpointState, Outcome]:
    """An abort, the overall deadline, and the alarms once green takes traffic; each means roll back."""
    state, outcome, _ = _guards(state, now, alarm_states)
    return state, outcome


def _guards(
    state: EndpointState, now: float, alarm_states: AlarmStates
) -> tuple[EndpointState, Outcome, dict[str, str] | None]:
    """Like check_guards, plus the alarm states read (None when none were)."""
    deployment = dict(state.extra[DEPLOYMENT])
    abort = deployment.get(ABORT)
    if abort:
        reason = aborted_reason(abort)
        event = _event(now, "Aborted", reason, by=abort.get("by", ""))
        return _log(state, deployment, event), Outcome("rollback", reason), None
    deadline = deployment.get("deadline")
    if deadline is not None and not deployment.get(PAUSED) and now >= deadline:
        reason = (
            "The deployment did not complete within MaximumExecutionTimeoutInSeconds "
            f"({int(deadline - deployment['started'] - deployment.get('paused_seconds', 0.0))} seconds); "
            "traffic was rolled back to the previous endpoint configuration."
        )
        return _log(state, deployment, _event(now, "Timeout", reason)), Outcome("rollback", reason), None
    names = list(deployment.get("alarms") or [])
    if not names or deployment.get("step_started") is None:
        return state, Outcome(None), None
    states, reason = _read_alarms(names, alarm_states)
    if reason:
        return _log(state, deployment, _tripped(reason, states, now)), Outcome("rollback", reason), states
    return state, Outcome(None), states


def _read_alarms(names: list[str], alarm_states: AlarmStates) -> tuple[dict[str, str], str]:
    """Every listed alarm's state, and the rollback's reason when one is in ALARM ("" otherwise)."""
    read = alarm_states(names)
    states = {n: read.get(n, "") for n in names}
    firing = [n for n in names if states[n] == "ALARM"]
    if not firing:
        return states, ""
    reason = (
        f"Deployment was rolled back because the alarm(s) {', '.join(firing)} went into ALARM state "
        "while traffic was shifting to or baking on the new endpoint configuration."
    )
    return states, reason


def _tripped(reason: str, states: dict[str, str], now: float) -> dict[str, Any]:
    return _event(now, "AlarmTripped", f"{reason} Alarms: {alarm_summary(states)}.", alarms=states)


def advance(state: EndpointState, now: float, alarm_states: AlarmStates) -> tuple[EndpointState, Outcome]:
    """One step of the plan after green is healthy; idempotent for a given stored state and time."""
    state, outcome, states = _guards(state, now, alarm_states)
    if outcome.action:
        return state, outcome
    deployment = dict(state.extra[DEPLOYMENT])
    plan = plan_for(state)
    if deployment.get(PROMOTE):
        return _promote(state, deployment, plan, now)
    if deployment.get(PAUSED):
        return _hold(state, deployment, plan, now), Outcome(None)
    index = int(deployment["step"])
    events: list[dict[str, Any]] = []
    while index < len(plan):
        step = plan[index]
        if step.kind == "provision":
            count = sum(len(v.ready) for v in state.pending)
            events.append(_event(now, "Provisioned", f"The new fleet is healthy: {count} instance(s)."))
        elif step.kind == "shift":
            state = _variant_status(state, step, now)
            deployment["green_weight"] = step.green_weight
            message = f"{step.message} The new fleet takes {step.green_weight:.0%} of the traffic."
            events.append(_event(now, "TrafficShifted", message, green_weight=step.green_weight))
        elif step.kind in BAKES:
            state = _variant_status(state, step, now)
            started = float(deployment.get("step_started") or now)
            if now < started + step.wait_seconds:
                break
            names = list(deployment.get("alarms") or [])
            if states is None and names:  # a bake that ends in the tick of its shift: check them now
                states, reason = _read_alarms(names, alarm_states)
                if reason:
                    state = _log_all(state, deployment, [*events, _tripped(reason, states, now)])
                    return state, Outcome("rollback", reason)
            events.append(_baked(step, states, now))
        else:  # retire: every step done, green takes over
            state = _variant_status(state, step, now)
            deployment.update(step=index + 1, green_weight=1.0)
            events.append(_event(now, "Retiring", f"Every step done; retiring the old fleet. {step.message}"))
            return _log_all(state, deployment, events), Outcome("promote")
        index += 1
        deployment.update(step=index, step_started=now)
        if index < len(plan) and plan[index].kind in BAKES:
            events.append(_bake_started(plan[index], deployment, now))
    if index >= len(plan):
        return _log_all(state, deployment, events), Outcome("promote")
    return _log_all(state, deployment, events), Outcome(None)


def _bake_started(step: Step, deployment: Mapping[str, Any], now: float) -> dict[str, Any]:
    names = list(deployment.get("alarms") or [])
    watched = f"Watching alarm(s) {', '.join(names)}." if names else "No alarms to watch."
    message = (
        f"Bake started: {step.wait_seconds} seconds, until {timestamp(now + step.wait_seconds)}. {watched}"
    )
    return _event(now, "BakeStarted", message, wait_seconds=step.wait_seconds)


def _baked(step: Step, states: Mapping[str, str] | None, now: float) -> dict[str, Any]:
    if states:
        summary = f"No alarm fired: alarms {alarm_summary(states)} at end of bake."
        return _event(now, "Baked", f"{step.message} {summary}", alarms=dict(states))
    return _event(now, "Baked", f"{step.message} No alarms were watched.")


def _promote(
    state: EndpointState, deployment: dict[str, Any], plan: tuple[Step, ...], now: float
) -> tuple[EndpointState, Outcome]:
    """An operator's promote: the remaining shift and bake steps are skipped, blue is retired."""
    by = deployment[PROMOTE].get("by") or "an operator"
    index = int(deployment["step"])
    skipped = sum(1 for s in plan[index:] if s.kind == "shift" or s.kind in BAKES)
    events = []
    if index == 0:
        events.append(_event(now, "Provisioned", "The new fleet is healthy."))
    retire = plan[-1]
    state = _variant_status(state, retire, now)
    deployment.pop(PAUSED, None)
    deployment.update(step=len(plan), step_started=now, green_weight=1.0)
    message = (
        f"Promoted by {by}: {skipped} remaining shift and bake step(s) skipped; the new fleet takes 100% of "
        "the traffic."
    )
    events.append(_event(now, "Promoted", message, green_weight=1.0, by=by))
    events.append(_event(now, "Retiring", f"Retiring the old fleet. {retire.message}"))
    return _log_all(state, deployment, events), Outcome("promote")


def _hold(
    state: EndpointState, deployment: dict[str, Any], plan: tuple[Step, ...], now: float
) -> EndpointState:
    """Paused: nothing moves; a paused bake says so in the new fleet's VariantStatus."""
    index = int(deployment["step"])
    if index < len(plan) and plan[index].kind in BAKES:
        step = plan[index]
        remaining = deployment[PAUSED].get("remaining")
        left = (
            f"{seconds(remaining)} of {step.wait_seconds}"
            if remaining is not None
            else str(step.wait_seconds)
        )
        message = f"Deployment paused with {left} seconds of baking left. {step.message}"
        status = VariantStatusName(step.status)
        state = replace(state, pending=tuple(with_status(v, status, message, now) for v in state.pending))
    return _log(state, deployment, None)


def _variant_status(state: EndpointState, step: Step, now: float) -> EndpointState:
    status = VariantStatusName(step.status)
    pending = tuple(with_status(v, status, step.message, now) for v in state.pending)
    return replace(state, pending=pending)


def _log(state: EndpointState, deployment: dict[str, Any], event: dict[str, Any] | None) -> EndpointState:
    if event is not None:
        deployment["events"] = ([*list(deployment.get("events") or []), event])[-MAX_EVENTS:]
    return replace(state, extra={**state.extra, DEPLOYMENT: deployment})


def _log_all(state: EndpointState, deployment: dict[str, Any], events: list[dict[str, Any]]) -> EndpointState:
    for event in events:
        state = _log(state, deployment, event)
    return _log(state, deployment, None)


def finish(state: EndpointState, outcome: str, reason: str, now: float) -> EndpointState:
    """Move the finished deployment into the endpoint's deployment history (newest last)."""
    extra = dict(state.extra)
    deployment = extra.pop(DEPLOYMENT, None)
    if deployment is None:
        return state
    if not reason and outcome == "Completed":
        promote = deployment.get(PROMOTE)
        reason = (
            f"Deployment completed early: promoted by {promote.get('by') or 'an operator'}."
            if promote
            else "Deployment completed: the new endpoint configuration serves all traffic."
        )
    deployment = {
        **deployment,
        "outcome": outcome,
        "reason": reason,
        "ended": now,
        "endpoint_config": deployment.get("endpoint_config") or state.pending_config,
        "previous_config": deployment.get("previous_config") or state.config_name,
    }
    deployment["events"] = [*list(deployment.get("events") or []), _event(now, outcome, reason or outcome)]
    extra[HISTORY] = ([*list(extra.get(HISTORY) or []), deployment])[-MAX_HISTORY:]
    return replace(state, extra=extra)


def green_weight(state: EndpointState) -> float:
    """The new fleet's share of each variant's traffic right now (0 without a deployment)."""
    deployment = state.extra.get(DEPLOYMENT)
    return float(deployment.get("green_weight", 0.0)) if deployment else 0.0
