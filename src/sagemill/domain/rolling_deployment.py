"""Rolling updates (RollingUpdatePolicy): the batch-by-batch walk and its rollback, one pure step a tick."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sagemill.domain import deployment as rollouts
from sagemill.domain.endpoints import (
    EndpointState,
    EndpointStatus,
    Variant,
    VariantStatusName,
    move,
    with_status,
)
from sagemill.domain.rollout import Step, plan_rolling, rollback_batches

# The record is blue/green's (state.extra["deployment"]: `step` indexes plan_rolling(config, old, new);
# `step_started`, `green_weight`, `deadline`, `events`) plus "rolling": the fleets' sizes, how many of each
# must run now (`blue_target`, `green_target`: the reconciler watches each fleet at its target, so a
# Variant keeps its config's DesiredInstanceCount) and the rollback's progress. Decisions (§1.3 is open):
# * One variant, same name in both configs. The old Variant stays in `fleet` to the end: a rollback
#   relaunches old-config instances from it (new slots, new ids).
# * Per batch: launch; once healthy the share becomes the plan's active green / active total; bake; the
#   same number of old instances (unready first, then the oldest) leave the routes in the step that lowers
#   their target, and stop once drained (state.retiring). Traffic follows the plan's counts, not live ones.
# * Guards: the deadline (provisioning included) and a new instance that dies or never answers /ping, every
#   tick; listed alarms from the moment the first batch is healthy, before its first shift.
# * Rollback: all traffic to the old fleet as soon as one old instance is healthy (with none left, the new
#   fleet serves until the first restored batch is). The old capacity returns in RollbackMaximumBatchSize
#   batches; the new fleet stays warm without traffic until then, and is torn down at the end.
# * UpdateRollbackFailed only when restoring fails (a relaunched old instance dies or never passes /ping):
#   the warm new instances join the old variant and serve beside the old ones, a mix of both configs.

ROLLING = "rolling"
E = EndpointStatus
V = VariantStatusName


def is_rolling(state: EndpointState) -> bool:
    """Whether the endpoint's deployment in flight is a rolling update."""
    deployment = state.extra.get(rollouts.DEPLOYMENT)
    if not isinstance(deployment, Mapping):
        return False
    config = deployment.get("config")
    return isinstance(config, Mapping) and config.get("RollingUpdatePolicy") is not None


def started(state: EndpointState) -> bool:
    """Whether `begin` has sized the walk (the new fleet is planned)."""
    return _rolling(state) is not None


def targets(state: EndpointState) -> tuple[int | None, int | None]:
    """How many (old, new) instances must run now; None where the fleet's own desired count applies."""
    rolling = _rolling(state)
    if rolling is None:
        return None, None
    return int(rolling["blue_target"]), int(rolling["green_target"])


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
    rolling = {
        "variant": blue[0].name,
        "old_count": old,
        "new_count": new,
        "blue_target": old,
        "green_target": 0,
        "rollback": None,
    }
    deployment.update({ROLLING: rolling, "step": 0, "step_started": None, "green_weight": 0.0})
    plan = _plan(deployment)
    batch = plan[0].green_provisioned if plan else new
    message = (
        f"Rolling update of variant {blue[0].name}: {old} old instance(s) replaced by {new} new instance(s) "
        f"in {_batch_count(plan)} batch(es) of up to {batch}."
    )
    state = _log(state, deployment, _event(now, "RollingStarted", message))
    return _statuses(state, now)


def abandon(state: EndpointState, reason: str, now: float) -> EndpointState:
    """End the update before any new instance ran: InService on the old config with the reason."""
    reason = f"Update failed, the endpoint kept its previous configuration: {reason}"
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
    rolling = _rolling(state)
    if rolling is None or len(state.fleet) != 1:
        return state
    if rolling.get("rollback") is None:
        deployment = state.extra[rollouts.DEPLOYMENT]
        if green_failure:
            reason = f"Update failed, the endpoint kept its previous configuration: {green_failure}"
            state = _start_rollback(state, reason, _event(now, "NewFleetFailed", reason), now)
        else:
            guard = _guard(deployment, state.pending[0], now, alarm_states)
            if guard is None:
                return _advance(state, now)
            state = _start_rollback(state, guard[0], guard[1], now)
    return _rolling_back(state, now, startup_timeout)


# forward


def _advance(state: EndpointState, now: float) -> EndpointState:
    deployment = dict(state.extra[rollouts.DEPLOYMENT])
    rolling = dict(deployment[ROLLING])
    deployment[ROLLING] = rolling
    plan = _plan(deployment)
    index = int(deployment["step"])
    blue, green = state.fleet[0], state.pending[0]
    retiring = state.retiring
    events: list[dict[str, Any]] = []
    while index < len(plan):
        current = plan[index]
        if current.kind == "provision_batch":
            rolling["green_target"] = current.green_provisioned
            if not _complete(green, current.green_provisioned):
                break
            events.append(
                _event(now, "BatchProvisioned", f"{current.green_provisioned} new instance(s) healthy.")
            )
        elif current.kind == "shift_batch":
            deployment.update(green_weight=current.green_weight, step_started=now)
            events.append(_event(now, "TrafficShifted", current.message, green_weight=current.green_weight))
        elif current.kind == "bake":
            began = deployment.get("step_started")
            if began is None:
                deployment["step_started"] = began = now
            if now < float(began) + current.wait_seconds:
                break
            deployment["step_started"] = now
            events.append(_event(now, "Baked", f"{current.message} No alarm fired."))
        else:  # retire_batch: the old instances leave the routes in this save, and stop once drained
            blue, gone = _take(blue, len(blue.instances) - current.blue_provisioned)
            retiring += gone
            rolling["blue_target"] = current.blue_provisioned
            deployment["green_weight"] = current.green_weight
            events.append(_event(now, "BatchRetired", current.message, green_weight=current.green_weight))
        index += 1
    deployment["step"] = index
    state = replace(state, fleet=(blue,), retiring=retiring)
    for event in events:
        state = _log(state, deployment, event)
    state = _log(state, deployment, None)
    if index < len(plan):
        return _statuses(state, now)
    return _promote(state, now)


def _promote(state: EndpointState, now: float) -> EndpointState:
    """Every batch done: the new fleet is the endpoint's; the (now empty) old variant is retired."""
    green = with_status(
        replace(state.pending[0], current_weight=state.pending[0].desired_weight), None, "", now
    )
    state = _log(
        state, dict(state.extra[rollouts.DEPLOYMENT]), _event(now, "Completed", "Deployment completed.")
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
    before any request reaches the new configuration.
    """
    deadline = deployment.get("deadline")
    if deadline is not None and now >= float(deadline):
        reason = (
            "The deployment did not complete within MaximumExecutionTimeoutInSeconds "
            f"({int(float(deadline) - float(deployment['started']))} seconds); traffic was rolled back to "
            "the previous endpoint configuration."
        )
        return reason, _event(now, "Timeout", reason)
    names = list(deployment.get("alarms") or [])
    plan = _plan(deployment)
    first_batch = plan[0].green_provisioned if plan else 0
    if not names or (int(deployment["step"]) == 0 and not _complete(green, first_batch)):
        return None
    states = alarm_states(names)
    firing = [n for n in names if states.get(n) == "ALARM"]
    if not firing:
        return None
    batch = _batch_number(plan, int(deployment["step"]))
    reason = (
        f"Deployment was rolled back because the alarm(s) {', '.join(firing)} went into ALARM state while "
        "traffic was shifting to or baking on the new endpoint configuration (rolling update, batch "
        f"{batch} of {_batch_count(plan)})."
    )
    return reason, _event(now, "AlarmTripped", reason, alarms={n: states.get(n, "") for n in names})


# rollback


def _start_rollback(state: EndpointState, reason: str, event: dict[str, Any], now: float) -> EndpointState:
    deployment = dict(state.extra[rollouts.DEPLOYMENT])
    rolling = dict(deployment[ROLLING])
    blue = state.fleet[0]
    rolling["rollback"] = {
        "reason": reason,
        "started": now,
        "from": int(rolling["blue_target"]),
        "batch": 0,
        "retry_at": blue.retry_at,
    }
    deployment[ROLLING] = rolling
    return _log(state, deployment, event)


def _rolling_back(state: EndpointState, now: float, startup_timeout: float) -> EndpointState:
    deployment = dict(state.extra[rollouts.DEPLOYMENT])
    rolling = dict(deployment[ROLLING])
    rollback = dict(rolling["rollback"])
    rolling["rollback"] = rollback
    deployment[ROLLING] = rolling
    blue = state.fleet[0]
    problem = _restore_problem(blue, rollback, now, startup_timeout)
    if problem:
        return _rollback_failed(state, problem, now)
    events: list[dict[str, Any]] = []
    if blue.ready and float(deployment.get("green_weight") or 0.0) > 0:
        deployment["green_weight"] = 0.0
        message = "All traffic is back on the previous endpoint configuration."
        events.append(_event(now, "TrafficRolledBack", message, green_weight=0.0))
    batches = _rollback_batches(deployment)
    index = int(rollback["batch"])
    while index < len(batches):
        target = int(rollback["from"]) + sum(batches[: index + 1])
        rolling["blue_target"] = target
        if not _complete(blue, target):
            break
        events.append(_event(now, "OldCapacityRestored", f"{target} old instance(s) healthy."))
        index += 1
    rollback["batch"] = index
    for event in events:
        state = _log(state, deployment, event)
    state = _log(state, deployment, None)
    if index < len(batches) or not _complete(blue, int(rolling["blue_target"])):
        return _statuses(state, now)
    reason = str(rollback["reason"])
    state = rollouts.finish(state, "RolledBack", reason, now)
    return replace(
        move(state, E.IN_SERVICE),
        fleet=(with_status(blue, None, "", now),),
        pending=(),
        pending_config="",
        pending_since=None,
        retiring=state.retiring + tuple(replace(v, statuses=()) for v in state.pending),
        failure_reason=reason[:1024],
    )


def _restore_problem(blue: Variant, rollback: Mapping[str, Any], now: float, startup_timeout: float) -> str:
    """Why restoring the old capacity has failed ("" while it has not)."""
    if blue.failures and blue.retry_at != rollback.get("retry_at"):
        return blue.last_failure or "an old-configuration instance failed."
    for instance in blue.instances:
        if not instance.ready and now - instance.started_at > startup_timeout:
            return (
                f"The primary container for production variant {blue.name} did not pass the ping health "
                f"check within {int(startup_timeout)} seconds."
            )
    return ""


def _rollback_failed(state: EndpointState, problem: str, now: float) -> EndpointState:
    """The old capacity cannot be restored: the warm new instances serve again beside the old ones."""
    deployment = state.extra[rollouts.DEPLOYMENT]
    rolling = deployment[ROLLING]
    blue = state.fleet[0]
    green = state.pending[0] if state.pending else None
    new_instances = green.instances if green is not None else ()
    merged = replace(
        blue,
        instances=blue.instances + new_instances,
        desired_count=int(rolling["blue_target"]) + len(new_instances),
    )
    reason = (
        "Update rollback failed: the endpoint is in service with a mix of the old and new endpoint "
        f"configurations ({len(blue.instances)} instance(s) of {state.config_name} and {len(new_instances)} "
        f"of {state.pending_config} in variant {blue.name}). The rollback was started because: "
        f"{rolling['rollback']['reason']} Restoring the old capacity failed: {problem}"
    )
    message = "Serving a mix of the old and new endpoint configurations after a failed rollback."
    merged = with_status(merged, V.UPDATING, message, now)
    state = _log(state, dict(deployment), _event(now, "RollbackFailed", reason))
    state = rollouts.finish(state, "UpdateRollbackFailed", reason, now)
    return replace(
        move(state, E.UPDATE_ROLLBACK_FAILED),
        fleet=(merged,),
        pending=(),
        pending_config="",
        pending_since=None,
        failure_reason=reason[:1024],
    )


# helpers


def _rolling(state: EndpointState) -> dict[str, Any] | None:
    deployment = state.extra.get(rollouts.DEPLOYMENT)
    if not isinstance(deployment, Mapping):
        return None
    rolling = deployment.get(ROLLING)
    return rolling if isinstance(rolling, dict) else None


def _plan(deployment: Mapping[str, Any]) -> tuple[Step, ...]:
    rolling = deployment[ROLLING]
    return plan_rolling(deployment["config"], int(rolling["old_count"]), int(rolling["new_count"]))


def _rollback_batches(deployment: Mapping[str, Any]) -> tuple[int, ...]:
    rolling = deployment[ROLLING]
    old = int(rolling["old_count"])
    return rollback_batches(deployment["config"], old - int(rolling["rollback"]["from"]), old)


def _batch_count(plan: tuple[Step, ...]) -> int:
    return sum(1 for s in plan if s.kind == "provision_batch")


def _batch_number(plan: tuple[Step, ...], index: int) -> int:
    """The batch the step at `index` belongs to (1-based); retirements after the last launch count to it."""
    return max(1, sum(1 for s in plan[: index + 1] if s.kind == "provision_batch"))


def _complete(variant: Variant, count: int) -> bool:
    return len(variant.ready) >= count and len(variant.instances) == count


def _take(variant: Variant, count: int) -> tuple[Variant, tuple[Variant, ...]]:
    """Split `count` instances off the variant (unready first, then the oldest) as a retiring copy."""
    if count <= 0:
        return variant, ()
    order = sorted(variant.instances, key=lambda i: (i.ready, i.started_at))
    gone = {i.instance_id for i in order[:count]}
    kept = tuple(i for i in variant.instances if i.instance_id not in gone)
    leaving = tuple(i for i in variant.instances if i.instance_id in gone)
    return replace(variant, instances=kept), (replace(variant, instances=leaving, statuses=()),)


def _statuses(state: EndpointState, now: float) -> EndpointState:
    """VariantStatus of both fleets from the walk's position (stable start times while it does not move)."""
    deployment = state.extra[rollouts.DEPLOYMENT]
    rolling = deployment[ROLLING]
    plan = _plan(deployment)
    index = int(deployment["step"])
    blue = state.fleet[0]
    old, new = int(rolling["old_count"]), int(rolling["new_count"])
    rollback = rolling.get("rollback")
    if rollback is not None:
        batches = _rollback_batches(deployment)
        done = int(rollback["batch"])
        count = max(len(batches), 1)
        blue_message = (
            f"Rolling back: restoring {old} instance(s) of the previous endpoint configuration, "
            f"{len(blue.ready)} healthy (batch {min(done + 1, count)} of {count})."
        )
        green_status: VariantStatusName | None = V.DELETING
        green_message = (
            "Rolling back: the new instance(s) take no traffic and are terminated once the previous "
            "capacity is restored."
        )
    else:
        current = plan[min(index, len(plan) - 1)]
        blue_message = (
            f"Rolling update, batch {_batch_number(plan, index)} of {_batch_count(plan)}: "
            f"{rolling['blue_target']} of {old} old and {rolling['green_target']} of {new} new instance(s) "
            "running."
        )
        green_status, green_message = VariantStatusName(current.status), current.message
    fleet = (with_status(blue, V.UPDATING, blue_message, now),)
    pending = tuple(with_status(v, green_status, green_message, now) for v in state.pending)
    return replace(state, fleet=fleet, pending=pending)


def _event(now: float, kind: str, message: str, **data: Any) -> dict[str, Any]:
    return {"time": now, "kind": kind, "message": message, **data}


def _log(state: EndpointState, deployment: dict[str, Any], event: dict[str, Any] | None) -> EndpointState:
    if event is not None:
        deployment["events"] = [*list(deployment.get("events") or []), event][-rollouts.MAX_EVENTS :]
    return replace(state, extra={**state.extra, rollouts.DEPLOYMENT: deployment})
