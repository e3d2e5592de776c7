"""Operators' controls of a deployment in flight (a Sagemill extension): pause, resume, promote, abort. Pure.

Each request checks that it makes sense now, records a flag in `extra["deployment"]` and an event in its
timeline; domain/deployment.py (blue/green) and domain/rolling_deployment.py (rolling updates) honour the
flags on the reconciler's next tick. Decisions, the same for both kinds:
* `pause` stops the clock: the current bake keeps its remaining seconds (stored now), the overall deadline
  is pushed back by the time spent paused on resume. Alarms are still watched while paused.
* `promote` resumes a paused deployment and skips the remaining bakes. Blue/green shifts all traffic once
  the new fleet is healthy; a rolling update still replaces batch by batch, each healthy before it takes
  traffic. An alarm already in ALARM still rolls back, in the same tick.
* `abort` wins over everything, at any point until the deployment ends (provisioning included).
* A rolling update that is already rolling back takes no control: it is restoring the old capacity.
* A request that would change nothing (pause twice, resume when running, a second promote or abort) is
  refused rather than ignored, so a script learns that its picture of the deployment is stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sagemill.domain.deployment import (
    ABORT,
    BAKES,
    DEPLOYMENT,
    PAUSED,
    PROMOTE,
    plan_for,
    seconds,
    timestamp,
)
from sagemill.domain.endpoints import EndpointState
from sagemill.domain.rolling_record import is_rolling_record, rolling_back
from sagemill.domain.rolling_record import plan as rolling_plan
from sagemill.domain.rollout import Step

ACTIONS = ("promote", "abort", "pause", "resume")
MAX_NOTE = 256
_EVENTS = {"promote": "PromoteRequested", "abort": "AbortRequested", "pause": "Paused", "resume": "Resumed"}


class ControlRefused(ValueError):
    """The control cannot apply to the endpoint's deployment now; the message says why."""


def request(state: EndpointState, action: str, by: str, now: float, note: str = "") -> EndpointState:
    """The state with `action` requested by principal `by` at `now`; raises ControlRefused."""
    if action not in ACTIONS:
        raise ControlRefused(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    current = state.extra.get(DEPLOYMENT)
    if not isinstance(current, Mapping):
        raise ControlRefused("there is no deployment in progress")
    if len(note) > MAX_NOTE:
        raise ControlRefused(f"the reason is longer than {MAX_NOTE} characters")
    deployment = dict(current)
    if deployment.get(ABORT):
        raise ControlRefused("it is already being aborted")
    rolling = is_rolling_record(deployment)
    if rolling and rolling_back(deployment):
        raise ControlRefused("it is already rolling back (the previous capacity is being restored)")
    message: str
    if action == "abort":
        deployment[ABORT] = {"at": now, "by": by, "note": note}
        message = f"Abort requested by {by}: all traffic goes back to the previous configuration."
        if rolling:
            message += " The old capacity is restored in RollbackMaximumBatchSize batches."
    elif deployment.get(PROMOTE):
        raise ControlRefused("it is already being promoted")
    elif action == "promote":
        resumed = _resume(state, deployment, now) if deployment.get(PAUSED) else ""
        deployment[PROMOTE] = {"at": now, "by": by, "note": note}
        message = (
            f"Promote requested by {by}: the remaining bakes are skipped; each remaining batch replaces old "
            "instances as soon as it is healthy."
            if rolling
            else f"Promote requested by {by}: the remaining steps are skipped once the new fleet is healthy."
        )
        message += f" {resumed}" if resumed else ""
    elif action == "pause":
        if deployment.get(PAUSED):
            raise ControlRefused("it is already paused")
        remaining = _bake_remaining(state, deployment, now)
        deployment[PAUSED] = {"since": now, "by": by, "remaining": remaining, "step": deployment["step"]}
        held = f" with {seconds(remaining)} seconds of the bake left" if remaining is not None else ""
        launches = "; no further batch is launched" if rolling else ""
        message = f"Paused by {by}{held}{launches}; alarms are still watched."
    else:
        if not deployment.get(PAUSED):
            raise ControlRefused("it is not paused")
        message = f"Resumed by {by}. {_resume(state, deployment, now)}"
    if note:
        message += f" Reason: {note}"
    event = {"time": now, "kind": _EVENTS[action], "message": message, "by": by}
    deployment["events"] = [*list(deployment.get("events") or []), event]
    return replace(state, extra={**state.extra, DEPLOYMENT: deployment})


def _bake_remaining(state: EndpointState, deployment: Mapping[str, Any], now: float) -> float | None:
    """Seconds left of the bake in progress (None when the deployment is not baking)."""
    started = deployment.get("step_started")
    if started is None:
        return None
    plan = _plan(state, deployment)
    index = int(deployment["step"])
    if index >= len(plan) or plan[index].kind not in BAKES:
        return None
    return max(0.0, float(started) + plan[index].wait_seconds - now)


def _resume(state: EndpointState, deployment: dict[str, Any], now: float) -> str:
    """Lift the pause in `deployment`: the bake continues where it stopped, the deadline moves back."""
    paused = deployment.pop(PAUSED)
    held = max(0.0, now - float(paused["since"]))
    deployment["paused_seconds"] = float(deployment.get("paused_seconds") or 0.0) + held
    parts = [f"Paused for {seconds(held)} seconds."]
    remaining = paused.get("remaining")
    if remaining is not None and int(deployment["step"]) == int(paused["step"]):
        wait = _plan(state, deployment)[int(deployment["step"])].wait_seconds
        deployment["step_started"] = now - (wait - float(remaining))
        parts.append(f"The bake continues with {seconds(float(remaining))} seconds left.")
    if deployment.get("deadline") is not None:
        deployment["deadline"] = float(deployment["deadline"]) + held
        parts.append(f"MaximumExecutionTimeoutInSeconds now ends at {timestamp(deployment['deadline'])}.")
    return " ".join(parts)


def _plan(state: EndpointState, deployment: Mapping[str, Any]) -> tuple[Step, ...]:
    """The deployment's plan: the rolling walk's (empty before it is sized), else blue/green's."""
    if is_rolling_record(deployment):
        return rolling_plan(deployment)
    return plan_for(state)
