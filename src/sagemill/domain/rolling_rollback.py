"""A rolling update's rollback: traffic back at once, the old capacity restored in batches, or a mix. Pure.

Started by an alarm, the deadline, a failed new instance or an operator's abort (domain/rolling_deployment.py
decides which); from then on every tick comes here. Decisions:
* All traffic goes back to the old fleet as soon as one old instance is healthy (with none left, the new
  fleet serves until the first restored batch is). The old capacity returns in RollbackMaximumBatchSize
  batches; the new fleet stays warm without traffic until then, and is torn down at the end.
* UpdateRollbackFailed only when restoring fails (a relaunched old instance dies or never passes /ping):
  the warm new instances join the old variant and serve beside the old ones, a mix of both configs.
* Operators' pause and promote no longer apply (they are dropped from the record); a rollback is not held.
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
    V,
    complete,
    event,
    log,
    restore_batches,
    statuses,
)


def start_rollback(state: EndpointState, reason: str, entry: dict[str, Any], now: float) -> EndpointState:
    """Record the rollback's start (from the old fleet's current target) and why."""
    deployment = dict(state.extra[rollouts.DEPLOYMENT])
    part = dict(deployment[ROLLING])
    blue = state.fleet[0]
    part["rollback"] = {
        "reason": reason,
        "started": now,
        "from": int(part["blue_target"]),
        "batch": 0,
        "retry_at": blue.retry_at,
    }
    deployment[ROLLING] = part
    deployment.pop(rollouts.PAUSED, None)
    deployment.pop(rollouts.PROMOTE, None)
    return log(state, deployment, entry)


def roll_back(state: EndpointState, now: float, startup_timeout: float) -> EndpointState:
    """One tick of the rollback in progress."""
    deployment = dict(state.extra[rollouts.DEPLOYMENT])
    part = dict(deployment[ROLLING])
    rollback = dict(part["rollback"])
    part["rollback"] = rollback
    deployment[ROLLING] = part
    blue = state.fleet[0]
    problem = _restore_problem(blue, rollback, now, startup_timeout)
    if problem:
        return _rollback_failed(state, problem, now)
    events: list[dict[str, Any]] = []
    if blue.ready and float(deployment.get("green_weight") or 0.0) > 0:
        deployment["green_weight"] = 0.0
        message = "All traffic is back on the previous endpoint configuration."
        events.append(event(now, "TrafficRolledBack", message, green_weight=0.0))
    batches = restore_batches(deployment)
    index = int(rollback["batch"])
    while index < len(batches):
        target = int(rollback["from"]) + sum(batches[: index + 1])
        part["blue_target"] = target
        if not complete(blue, target):
            break
        events.append(event(now, "OldCapacityRestored", f"{target} old instance(s) healthy."))
        index += 1
    rollback["batch"] = index
    for entry in events:
        state = log(state, deployment, entry)
    state = log(state, deployment, None)
    if index < len(batches) or not complete(blue, int(part["blue_target"])):
        return statuses(state, now)
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
    part = deployment[ROLLING]
    blue = state.fleet[0]
    green = state.pending[0] if state.pending else None
    new_instances = green.instances if green is not None else ()
    merged = replace(
        blue,
        instances=blue.instances + new_instances,
        desired_count=int(part["blue_target"]) + len(new_instances),
    )
    reason = (
        "Update rollback failed: the endpoint is in service with a mix of the old and new endpoint "
        f"configurations ({len(blue.instances)} instance(s) of {state.config_name} and {len(new_instances)} "
        f"of {state.pending_config} in variant {blue.name}). The rollback was started because: "
        f"{part['rollback']['reason']} Restoring the old capacity failed: {problem}"
    )
    message = "Serving a mix of the old and new endpoint configurations after a failed rollback."
    merged = with_status(merged, V.UPDATING, message, now)
    state = log(state, dict(deployment), event(now, "RollbackFailed", reason))
    state = rollouts.finish(state, "UpdateRollbackFailed", reason, now)
    return replace(
        move(state, E.UPDATE_ROLLBACK_FAILED),
        fleet=(merged,),
        pending=(),
        pending_config="",
        pending_since=None,
        failure_reason=reason[:1024],
    )
