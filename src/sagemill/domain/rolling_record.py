"""A rolling update's persisted record: its plan, batch arithmetic, VariantStatus messages and timeline. Pure.

The record is blue/green's (state.extra["deployment"]: `step` indexes plan_rolling(config, old, new);
`step_started`, `green_weight`, `deadline`, `events`, and the operators' `paused`/`promote`/`abort` flags)
plus "rolling": the fleets' sizes, how many of each must run now (`blue_target`, `green_target`: the
reconciler watches each fleet at its target, so a Variant keeps its config's DesiredInstanceCount) and the
rollback's progress (`rollback`: reason, start, the old count it started from, batches restored).
The walk itself is domain/rolling_deployment.py (forward) and domain/rolling_rollback.py (back).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sagemill.domain.deployment import DEPLOYMENT, MAX_EVENTS, PAUSED, seconds
from sagemill.domain.endpoints import EndpointState, EndpointStatus, Variant, VariantStatusName, with_status
from sagemill.domain.rollout import Step, plan_rolling, rollback_batches

ROLLING = "rolling"
E = EndpointStatus
V = VariantStatusName


def is_rolling(state: EndpointState) -> bool:
    """Whether the endpoint's deployment in flight is a rolling update."""
    deployment = state.extra.get(DEPLOYMENT)
    return isinstance(deployment, Mapping) and is_rolling_record(deployment)


def is_rolling_record(deployment: Mapping[str, Any]) -> bool:
    """Whether a deployment record is a rolling update's (its config has a RollingUpdatePolicy)."""
    config = deployment.get("config")
    return isinstance(config, Mapping) and config.get("RollingUpdatePolicy") is not None


def rolling(state: EndpointState) -> dict[str, Any] | None:
    """The record's rolling part, None before `begin` sized the walk."""
    deployment = state.extra.get(DEPLOYMENT)
    if not isinstance(deployment, Mapping):
        return None
    part = deployment.get(ROLLING)
    return part if isinstance(part, dict) else None


def rolling_back(deployment: Mapping[str, Any]) -> bool:
    """Whether the rolling update in this record is restoring the old capacity."""
    part = deployment.get(ROLLING)
    return isinstance(part, Mapping) and part.get("rollback") is not None


def plan(deployment: Mapping[str, Any]) -> tuple[Step, ...]:
    """The walk's plan (empty before `begin` sized it)."""
    part = deployment.get(ROLLING)
    if not isinstance(part, Mapping):
        return ()
    return plan_rolling(deployment["config"], int(part["old_count"]), int(part["new_count"]))


def restore_batches(deployment: Mapping[str, Any]) -> tuple[int, ...]:
    """Old instances to relaunch per rollback batch (RollbackMaximumBatchSize of the old fleet)."""
    part = deployment[ROLLING]
    old = int(part["old_count"])
    return rollback_batches(deployment["config"], old - int(part["rollback"]["from"]), old)


def batch_count(steps: tuple[Step, ...]) -> int:
    return sum(1 for s in steps if s.kind == "provision_batch")


def batch_number(steps: tuple[Step, ...], index: int) -> int:
    """The batch the step at `index` belongs to (1-based); retirements after the last launch count to it."""
    return max(1, sum(1 for s in steps[: index + 1] if s.kind == "provision_batch"))


def complete(variant: Variant, count: int) -> bool:
    """Exactly `count` instances run and all of them answer /ping."""
    return len(variant.ready) >= count and len(variant.instances) == count


def take(variant: Variant, count: int) -> tuple[Variant, tuple[Variant, ...]]:
    """Split `count` instances off the variant (unready first, then the oldest) as a retiring copy."""
    if count <= 0:
        return variant, ()
    order = sorted(variant.instances, key=lambda i: (i.ready, i.started_at))
    gone = {i.instance_id for i in order[:count]}
    kept = tuple(i for i in variant.instances if i.instance_id not in gone)
    leaving = tuple(i for i in variant.instances if i.instance_id in gone)
    return replace(variant, instances=kept), (replace(variant, instances=leaving, statuses=()),)


def statuses(state: EndpointState, now: float) -> EndpointState:
    """VariantStatus of both fleets from the walk's position (stable start times while it does not move)."""
    deployment = state.extra[DEPLOYMENT]
    part = deployment[ROLLING]
    steps = plan(deployment)
    index = int(deployment["step"])
    blue = state.fleet[0]
    old, new = int(part["old_count"]), int(part["new_count"])
    rollback = part.get("rollback")
    if rollback is not None:
        batches = restore_batches(deployment)
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
        current = steps[min(index, len(steps) - 1)]
        paused = deployment.get(PAUSED)
        batch = f"batch {batch_number(steps, index)} of {batch_count(steps)}"
        blue_message = (
            f"Rolling update{' paused at' if paused else ','} {batch}: {part['blue_target']} of {old} old "
            f"and {part['green_target']} of {new} new instance(s) running."
        )
        green_status, green_message = VariantStatusName(current.status), current.message
        if paused:
            green_message = _paused_message(current, paused)
    fleet = (with_status(blue, V.UPDATING, blue_message, now),)
    pending = tuple(with_status(v, green_status, green_message, now) for v in state.pending)
    return replace(state, fleet=fleet, pending=pending)


def _paused_message(current: Step, paused: Mapping[str, Any]) -> str:
    """The new fleet's VariantStatus while paused: blue/green's words, the batch's own message after them."""
    if current.kind != "bake":
        return f"Deployment paused. {current.message}"
    remaining = paused.get("remaining")
    left = f"{seconds(float(remaining))} of {current.wait_seconds}" if remaining is not None else ""
    return f"Deployment paused with {left or current.wait_seconds} seconds of baking left. {current.message}"


def event(now: float, kind: str, message: str, **data: Any) -> dict[str, Any]:
    """A timeline entry."""
    return {"time": now, "kind": kind, "message": message, **data}


def log(state: EndpointState, deployment: dict[str, Any], entry: dict[str, Any] | None) -> EndpointState:
    """The state with `deployment` as its record, `entry` (if any) appended to the timeline."""
    if entry is not None:
        deployment["events"] = [*list(deployment.get("events") or []), entry][-MAX_EVENTS:]
    return replace(state, extra={**state.extra, DEPLOYMENT: deployment})
