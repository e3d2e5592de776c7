"""Rolling updates (RollingUpdatePolicy): the batch-by-batch walk forward, one pure step a tick.

The record and its messages are domain/rolling_record.py; the rollback is domain/rolling_rollback.py.
Decisions (§1.3 is open):
* One variant, same name in both configs. The old Variant stays in `fleet` to the end: a rollback
  relaunches old-config instances from it (new slots, new ids).
* Per batch: launch; once healthy the share becomes the plan's active green / active total; bake; the
  same number of old instances (unready first, then the oldest) leave the routes in the step that lowers
  their target, and stop once drained (state.retiring). Traffic follows the plan's counts, not live ones.
* Guards: an operator's abort, the deadline (provisioning included) and a new instance that dies or never
  answers /ping, every tick; listed alarms from the moment the first batch is healthy, before its first
  shift. Any of them starts the rollback (domain/rolling_rollback.py).
Operators' controls (domain/deployment_controls.py writes the flags; blue/green's choices are mirrored):
* `paused`: the walk holds its step. A batch whose launch has begun still comes up healthy but takes no
  traffic; no further batch launches, no traffic moves, no old instance retires; a bake keeps its
  remaining seconds and the deadline stops (both moved on resume). Alarms and the new fleet's health are
  still watched and still roll back.
* `promote`: every remaining bake is skipped; batches keep their MaximumBatchSize and each still must be
  healthy before traffic shifts to it and old instances retire, so capacity never drops below the plan's.
* `abort`: the rollback an alarm would start, with a FailureReason naming who aborted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sagemill.domain import deployment as rollouts
from sagemill.domain.endpoints import EndpointState, Variant, move, with_status
from sagemill.domain.rolling_record import (
    ROLLING,
    E,
    batch_count,
    batch_number,
    complete,
    event,
    is_rolling,
    log,
    plan,
    rolling,
    statuses,
    take,
)
from sagemill.domain.rolling_rollback import roll_back, start_rollback
from sagemill.domain.rollout import Step

__all__ = ["abandon", "abort_before_begin", "begin", "is_rolling", "started", "step", "targets"]


def started(state: EndpointState) -> bool:
    """Whether `begin` has sized the walk (the new fleet is planned)."""
    return rolling(state) is not None


def targets(state: EndpointState) -> tuple[int | None, int | None]:
    """How many (old, new) instances must run now; None where the fleet's own desired count applies."""
    part = rolling(state)
    if part is None:
        return None, None
    return int(part["blue_target"]), int(part["green_target"])


def begin(state: EndpointState, now: float) -> EndpointState:
    """Size the walk once the new fleet is planned (state.pending); refuse shapes it cannot take."""
    blue, green = state.fleet, state.pending
    if len(blue) != 1 or len(green) != 1 or blue[0].name != green[0].name:
        return abandon(
            state,
            "A rolling update needs an endpoint with one production variant and a new endpoint configuration "
            "with one production variant of the same name.",
            now,
        )
    deployment = dict(state.extra[rollouts.DEPLOYMENT])
    policy = deployment["config"]["RollingUpdatePolicy"]
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    if timeout and deployment.get("deadline") is None:
        deployment["deadline"] = float(deployment["started"]) + float(timeout)
    old, new = blue[0].desired_count, max(1, green[0].desired_count)
    part = {
        "variant": blue[0].name,
        "old_count": old,
        "new_count": new,
        "blue_target": old,
        "green_target": 0,
        "rollback": None,
    }
    deployment.update({ROLLING: part, "step": 0, "step_started": None, "green_weight": 0.0})
    steps = plan(deployment)
    batch = steps[0].green_provisioned if steps else new
    message = (
        f"Rolling update of variant {blue[0].name}: {old} old instance(s) replaced by {new} new instance(s) "
        f"in {batch_count(steps)} batch(es) of up to {batch}."
    )
    state = log(state, deployment, event(now, "RollingStarted", message))
    return statuses(state, now)


def abandon(state: EndpointState, reason: str, now: float) -> EndpointState:
    """End the update before any new instance ran: InService on the old config with the reason."""
    return _end_unstarted(
        state, f"Update failed, the endpoint kept its previous configuration: {reason}", now
    )


def abort_before_begin(state: EndpointState, now: float) -> EndpointState | None:
    """An abort requested before `begin` ends the update at once (no new instance ran); None without one."""
    deployment = state.extra.get(rollouts.DEPLOYMENT)
    abort = deployment.get(rollouts.ABORT) if isinstance(deployment, Mapping) else None
    if not isinstance(deployment, Mapping) or not isinstance(abort, Mapping):
        return None
    reason = rollouts.aborted_reason(abort)
    state = log(state, dict(deployment), event(now, "Aborted", reason, by=abort.get("by", "")))
    return _end_unstarted(state, reason, now)


def _end_unstarted(state: EndpointState, reason: str, now: float) -> EndpointState:
    state = rollouts.finish(state, "RolledBack", reason, now)
    fleet = tuple(with_status(v, None, "", now) for v in state.fleet)
    return replace(
        move(state, E.IN_SERVICE),
        fleet=fleet,
        pending=(),
        pending_config="",
        pending_since=None,
        failure_reason=reason[:1024],
    )


def step(
    state: EndpointState,
    now: float,
    alarm_states: rollouts.AlarmStates,
    green_failure: str,
    startup_timeout: float,
) -> EndpointState:
    """One tick of a started walk, both fleets just watched; idempotent for a given stored state and time.

    `green_failure` is why a new instance failed this tick ("" if none); `startup_timeout` is how long a
    relaunched old instance may take to pass /ping before the rollback counts it as failed.
    """
    part = rolling(state)
    if part is None or len(state.fleet) != 1:
        return state
    if part.get("rollback") is None:
        deployment = state.extra[rollouts.DEPLOYMENT]
        abort = deployment.get(rollouts.ABORT)
        if abort:
            reason = rollouts.aborted_reason(abort)
            entry = event(now, "Aborted", reason, by=abort.get("by", ""))
            state = start_rollback(state, reason, entry, now)
        elif green_failure:
            reason = f"Update failed, the endpoint kept its previous configuration: {green_failure}"
            state = start_rollback(state, reason, event(now, "NewFleetFailed", reason), now)
        else:
            guard = _guard(deployment, state.pending[0], now, alarm_states)
            if guard is None:
                if deployment.get(rollouts.PAUSED):
                    return _hold(state, now)
                return _advance(state, now)
            state = start_rollback(state, guard[0], guard[1], now)
    return roll_back(state, now, startup_timeout)


def _advance(state: EndpointState, now: float) -> EndpointState:
    deployment = dict(state.extra[rollouts.DEPLOYMENT])
    part = dict(deployment[ROLLING])
    deployment[ROLLING] = part
    steps = plan(deployment)
    index = int(deployment["step"])
    blue, green = state.fleet[0], state.pending[0]
    retiring = state.retiring
    events: list[dict[str, Any]] = []
    promote = deployment.get(rollouts.PROMOTE)
    if promote and not promote.get("applied"):
        deployment[rollouts.PROMOTE] = {**promote, "applied": now}
        events.append(_promoted(steps, index, promote, now))
    while index < len(steps):
        current = steps[index]
        if current.kind == "provision_batch":
            part["green_target"] = current.green_provisioned
            if not complete(green, current.green_provisioned):
                break
            events.append(
                event(now, "BatchProvisioned", f"{current.green_provisioned} new instance(s) healthy.")
            )
        elif current.kind == "shift_batch":
            deployment.update(green_weight=current.green_weight, step_started=now)
            events.append(event(now, "TrafficShifted", current.message, green_weight=current.green_weight))
        elif current.kind == "bake":
            if not promote:  # a promoted walk skips its bakes (the Promoted event counted them)
                began = deployment.get("step_started")
                if began is None:
                    deployment["step_started"] = began = now
                if now < float(began) + current.wait_seconds:
                    break
                events.append(event(now, "Baked", f"{current.message} No alarm fired."))
            deployment["step_started"] = now
        else:  # retire_batch: the old instances leave the routes in this save, and stop once drained
            blue, gone = take(blue, len(blue.instances) - current.blue_provisioned)
            retiring += gone
            part["blue_target"] = current.blue_provisioned
            deployment["green_weight"] = current.green_weight
            events.append(event(now, "BatchRetired", current.message, green_weight=current.green_weight))
        index += 1
    deployment["step"] = index
    state = replace(state, fleet=(blue,), retiring=retiring)
    for entry in events:
        state = log(state, deployment, entry)
    state = log(state, deployment, None)
    if index < len(steps):
        return statuses(state, now)
    return _complete_walk(state, now)


def _promoted(steps: tuple[Step, ...], index: int, promote: Mapping[str, Any], now: float) -> dict[str, Any]:
    by = promote.get("by") or "an operator"
    rest = steps[index:]
    bakes = sum(1 for s in rest if s.kind == "bake")
    batches = sum(1 for s in rest if s.kind == "provision_batch")
    message = (
        f"Promoted by {by}: {bakes} remaining bake(s) skipped; {batches} remaining batch(es) of new "
        "instances are launched, take traffic and replace old ones as soon as each is healthy."
    )
    return event(now, "Promoted", message, by=by)


def _hold(state: EndpointState, now: float) -> EndpointState:
    """Paused: traffic, bakes and retirements hold; a batch already at its launch step still comes up."""
    deployment = dict(state.extra[rollouts.DEPLOYMENT])
    part = dict(deployment[ROLLING])
    deployment[ROLLING] = part
    steps = plan(deployment)
    index = int(deployment["step"])
    if index < len(steps) and steps[index].kind == "provision_batch":
        part["green_target"] = steps[index].green_provisioned
    return statuses(log(state, deployment, None), now)


def _complete_walk(state: EndpointState, now: float) -> EndpointState:
    """Every batch done: the new fleet is the endpoint's; the (now empty) old variant is retired."""
    green = with_status(
        replace(state.pending[0], current_weight=state.pending[0].desired_weight), None, "", now
    )
    state = log(
        state, dict(state.extra[rollouts.DEPLOYMENT]), event(now, "Completed", "Deployment completed.")
    )
    state = rollouts.finish(state, "Completed", "", now)
    return replace(
        move(state, E.IN_SERVICE),
        fleet=(green,),
        config_name=state.pending_config,
        pending=(),
        pending_config="",
        pending_since=None,
        retiring=state.retiring + state.fleet,
    )


def _guard(
    deployment: Mapping[str, Any], green: Variant, now: float, alarm_states: rollouts.AlarmStates
) -> tuple[str, dict[str, Any]] | None:
    """Why the walk must roll back now (reason, timeline event), or None.

    Alarms count from the moment the first batch is healthy, so one already in ALARM stops the update
    before any request reaches the new configuration. The deadline stops while paused (resume moves it).
    """
    deadline = deployment.get("deadline")
    if deadline is not None and not deployment.get(rollouts.PAUSED) and now >= float(deadline):
        allowed = (
            float(deadline) - float(deployment["started"]) - float(deployment.get("paused_seconds") or 0)
        )
        reason = (
            f"The deployment did not complete within MaximumExecutionTimeoutInSeconds ({int(allowed)} "
            "seconds); traffic was rolled back to the previous endpoint configuration."
        )
        return reason, event(now, "Timeout", reason)
    names = list(deployment.get("alarms") or [])
    steps = plan(deployment)
    first_batch = steps[0].green_provisioned if steps else 0
    if not names or (int(deployment["step"]) == 0 and not complete(green, first_batch)):
        return None
    states = alarm_states(names)
    firing = [n for n in names if states.get(n) == "ALARM"]
    if not firing:
        return None
    batch = batch_number(steps, int(deployment["step"]))
    reason = (
        f"Deployment was rolled back because the alarm(s) {', '.join(firing)} went into ALARM state while "
        "traffic was shifting to or baking on the new endpoint configuration (rolling update, batch "
        f"{batch} of {batch_count(steps)})."
    )
    return reason, event(now, "AlarmTripped", reason, alarms={n: states.get(n, "") for n in names})
