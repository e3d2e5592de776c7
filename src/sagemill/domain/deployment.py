"""Blue/green deployments with guardrails: the rollout walked one persisted, pure step at a time.

The endpoint reconciler calls `advance` once the new (green) fleet is healthy. The deployment's
progress lives in `EndpointState.extra["deployment"]`: the effective DeploymentConfig, the index of
the current plan step, when it started, the green fleet's traffic share, the overall deadline, and a
timeline of what happened and why. Waits are stored as timestamps, so a restarted server resumes
the step it was in with the same deadline. Any listed alarm in ALARM while green takes traffic (or
the overall deadline) rolls back: all traffic to blue in one step, green torn down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sagemill.domain.endpoints import EndpointState, VariantStatusName, with_status
from sagemill.domain.rollout import Step, plan_blue_green

DEPLOYMENT = "deployment"
LAST_CONFIG = "last_deployment_config"
HISTORY = "deployments"
MAX_EVENTS = 200
MAX_HISTORY = 10

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
    return {
        "config": dict(config) if config else None,
        "started": now,
        "deadline": now + float(timeout) if timeout else None,
        "alarms": alarms,
        "step": 0,
        "step_started": None,
        "green_weight": 0.0,
        "events": [_event(now, "Started", "Deployment started; provisioning the new fleet.")],
    }


def _event(now: float, kind: str, message: str, **data: Any) -> dict[str, Any]:
    return {"time": now, "kind": kind, "message": message, **data}


def plan_for(state: EndpointState) -> tuple[Step, ...]:
    deployment = state.extra[DEPLOYMENT]
    new_count = sum(v.desired_count for v in state.pending) or 1
    old_count = sum(len(v.ready) for v in state.fleet)
    return plan_blue_green(deployment["config"], new_count, old_count)


def check_guards(
    state: EndpointState, now: float, alarm_states: AlarmStates
) -> tuple[EndpointState, Outcome]:
    """The overall deadline, and the alarms once green takes traffic; a breach means roll back."""
    deployment = dict(state.extra[DEPLOYMENT])
    deadline = deployment.get("deadline")
    if deadline is not None and now >= deadline:
        reason = (
            "The deployment did not complete within MaximumExecutionTimeoutInSeconds "
            f"({int(deadline - deployment['started'])} seconds); traffic was rolled back to the previous "
            "endpoint configuration."
        )
        return _log(state, deployment, _event(now, "Timeout", reason)), Outcome("rollback", reason)
    names = list(deployment.get("alarms") or [])
    if not names or deployment.get("step_started") is None:
        return state, Outcome(None)
    states = alarm_states(names)
    firing = [n for n in names if states.get(n) == "ALARM"]
    if firing:
        reason = (
            f"Deployment was rolled back because the alarm(s) {', '.join(firing)} went into ALARM state "
            "while traffic was shifting to or baking on the new endpoint configuration."
        )
        event = _event(now, "AlarmTripped", reason, alarms={n: states.get(n, "") for n in names})
        return _log(state, deployment, event), Outcome("rollback", reason)
    return state, Outcome(None)


def advance(state: EndpointState, now: float, alarm_states: AlarmStates) -> tuple[EndpointState, Outcome]:
    """One step of the plan after green is healthy; idempotent for a given stored state and time."""
    state, outcome = check_guards(state, now, alarm_states)
    if outcome.action:
        return state, outcome
    deployment = dict(state.extra[DEPLOYMENT])
    plan = plan_for(state)
    index = int(deployment["step"])
    while index < len(plan):
        step = plan[index]
        if step.kind == "provision":
            index += 1
            deployment.update(step=index, step_started=now)
            state = _log(state, deployment, _event(now, "Provisioned", "The new fleet is healthy."))
            continue
        state = _variant_status(state, step, now)
        if step.kind == "shift":
            deployment.update(green_weight=step.green_weight, step=index + 1, step_started=now)
            event = _event(now, "TrafficShifted", step.message, green_weight=step.green_weight)
            state = _log(state, deployment, event)
            index += 1
            continue
        if step.kind in ("bake", "final_bake"):
            started = float(deployment.get("step_started") or now)
            if now < started + step.wait_seconds:
                return _log(state, deployment, None), Outcome(None)
            deployment.update(step=index + 1, step_started=now)
            state = _log(state, deployment, _event(now, "Baked", f"{step.message} No alarm fired."))
            index += 1
            continue
        # retire: every step done, green takes over
        deployment.update(step=index + 1, green_weight=1.0)
        return _log(state, deployment, _event(now, "Completed", "Deployment completed.")), Outcome("promote")
    return state, Outcome("promote")


def _variant_status(state: EndpointState, step: Step, now: float) -> EndpointState:
    status = VariantStatusName(step.status)
    pending = tuple(with_status(v, status, step.message, now) for v in state.pending)
    return replace(state, pending=pending)


def _log(state: EndpointState, deployment: dict[str, Any], event: dict[str, Any] | None) -> EndpointState:
    if event is not None:
        deployment["events"] = ([*list(deployment.get("events") or []), event])[-MAX_EVENTS:]
    return replace(state, extra={**state.extra, DEPLOYMENT: deployment})


def finish(state: EndpointState, outcome: str, reason: str, now: float) -> EndpointState:
    """Move the finished deployment into the endpoint's deployment history (newest last)."""
    extra = dict(state.extra)
    deployment = extra.pop(DEPLOYMENT, None)
    if deployment is None:
        return state
    deployment = {**deployment, "outcome": outcome, "reason": reason, "ended": now}
    deployment["events"] = [*list(deployment.get("events") or []), _event(now, outcome, reason or outcome)]
    extra[HISTORY] = ([*list(extra.get(HISTORY) or []), deployment])[-MAX_HISTORY:]
    return replace(state, extra=extra)


def green_weight(state: EndpointState) -> float:
    """The new fleet's share of each variant's traffic right now (0 without a deployment)."""
    deployment = state.extra.get(DEPLOYMENT)
    return float(deployment.get("green_weight", 0.0)) if deployment else 0.0
