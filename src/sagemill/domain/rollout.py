"""Deployment rollout plans (blue/green all-at-once, canary, linear; rolling) as immutable data. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sagemill.domain.endpoints import VariantStatusName

# Decisions (guardrails-and-alarms.md §1.3 leaves these open; the reference is followed where it speaks):
# * Sizes: INSTANCE_COUNT is the value capped at the fleet; CAPACITY_PERCENT is ceil(total * pct / 100),
#   at least 1 and at most the fleet (the rolling notebook's "33% * 3 = 1 instance").
# * Traffic share follows active capacity: green_weight = green active / (green active + blue active)
#   (the docs' "3 blue + 1 canary = 25%"). A canary leaves blue fully active; a linear step deactivates the
#   same portion of blue, rounded up so that blue never gives up more capacity than green took over.
# * Bakes: WaitIntervalInSeconds runs *between* traffic steps (the canary bake; after each linear step
#   that does not reach 100%); the step that reaches 100% is followed by the final bake,
#   TerminationWaitInSeconds. A rolling batch always bakes WaitIntervalInSeconds.
# * With a DeploymentConfig every bake step is planned even when its wait is 0 s: it is the moment the
#   alarms are checked. Without one (UpdateEndpoint's default) there is no bake at all.
# * Messages quoted by AWS ("Launching X instance(s).", "Activating traffic on canary capacity of X
#   instance(s).", "Baking for X seconds (...) with traffic enabled on full/canary capacity of Y
#   instance(s).", "Terminating X instance(s).") are used verbatim; the others follow their pattern.

_S = VariantStatusName
_WAIT = "WaitIntervalInSeconds"
_ACTIVATING = "Activating traffic on {} capacity of {} instance(s)."
_BAKING = "Baking for {} seconds ({}) with traffic enabled on {} capacity of {} instance(s)."


@dataclass(frozen=True, slots=True)
class Step:
    """The world after one step of a rollout; the reconciler drives the fleets to it, then moves on.

    `green_instances`/`blue_instances` are the *active* (traffic-taking) instances; `green_provisioned`/
    `blue_provisioned` are the instances that must be running (launched but inactive, or kept warm).
    """

    kind: str
    """provision | shift | bake | final_bake | retire; rolling: provision_batch | shift_batch | bake |
    retire_batch."""
    green_instances: int
    blue_instances: int
    green_weight: float
    """Fraction of the variant's traffic on the new fleet after this step (0..1)."""
    wait_seconds: int
    """Bake length; 0 for non-bake steps."""
    status: str
    """SageMaker's VariantStatus for the step (a VariantStatusName value)."""
    message: str
    green_provisioned: int
    blue_provisioned: int


def _size(config: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = config
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def capacity_instances(size: Mapping[str, Any], total: int) -> int:
    """Instances a CapacitySize stands for in a fleet of `total`: at least 1, at most `total`.

    INSTANCE_COUNT is the value itself; CAPACITY_PERCENT rounds up (AWS does not document the rounding;
    the rolling notebook's "33% * 3 = 1 instance" fits ceil, and rounding up never makes a step empty).
    """
    kind, value = size.get("Type"), int(size["Value"])
    if kind == "INSTANCE_COUNT":
        wanted = value
    elif kind == "CAPACITY_PERCENT":
        wanted = -(-total * value // 100)
    else:
        raise ValueError(f"unknown CapacitySize Type {kind!r}")
    return min(total, max(1, wanted))


def _weight(green: int, blue: int) -> float:
    return green / (green + blue) if green + blue else 0.0


class _Plan:
    """Accumulates steps; each step's weight follows from its active counts."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def add(
        self,
        kind: str,
        active: tuple[int, int],
        wait: int,
        status: str,
        message: str,
        running: tuple[int, int],
    ) -> None:
        green, blue = active
        status = VariantStatusName(status).value  # a plain string, checked against SageMaker's enum
        self.steps.append(Step(kind, green, blue, _weight(green, blue), wait, status, message, *running))


def plan_blue_green(
    config: Mapping[str, Any] | None, instance_count: int, old_count: int | None = None
) -> tuple[Step, ...]:
    """The blue/green plan for one variant whose new fleet has `instance_count` instances.

    `config` is a validated DeploymentConfig, or None for UpdateEndpoint's default (all at once, no bake).
    `old_count` is the old fleet's instance count, the new one's when not given. Both fleets keep running
    (blue warm for a one-step rollback) until the final `retire`.
    """
    n = instance_count
    b = n if old_count is None else old_count
    if n < 1 or b < 0:
        raise ValueError("a blue/green plan needs at least one new instance")
    routing = _size(config, "BlueGreenUpdatePolicy", "TrafficRoutingConfiguration")
    kind = _size(routing, "Type") or "ALL_AT_ONCE"
    interval = int(_size(routing, "WaitIntervalInSeconds") or 0)
    termination = int(_size(config, "BlueGreenUpdatePolicy", "TerminationWaitInSeconds") or 0)
    both = (n, b)
    plan = _Plan()
    plan.add("provision", (0, b), 0, _S.CREATING, f"Launching {n} instance(s).", both)
    if kind == "CANARY":
        c = capacity_instances(_required(routing, "CanarySize"), n)
        plan.add("shift", (c, b), 0, _S.ACTIVATING_TRAFFIC, _ACTIVATING.format("canary", c), both)
        plan.add("bake", (c, b), interval, _S.BAKING, _BAKING.format(interval, _WAIT, "canary", c), both)
    elif kind == "LINEAR":
        s = capacity_instances(_required(routing, "LinearStepSize"), n)
        total = -(-n // s)
        for index in range(1, total):  # the step that reaches 100% is the full shift below
            g = index * s
            blue = -(-b * (n - g) // n)  # the same portion of blue, rounded in blue's favour
            message = f"Activating traffic on linear step {index} of {total}, capacity of {g} instance(s)."
            plan.add("shift", (g, blue), 0, _S.ACTIVATING_TRAFFIC, message, both)
            plan.add(
                "bake", (g, blue), interval, _S.BAKING, _BAKING.format(interval, _WAIT, "linear", g), both
            )
    elif kind != "ALL_AT_ONCE":
        raise ValueError(f"unknown TrafficRoutingConfiguration Type {kind!r}")
    plan.add("shift", (n, 0), 0, _S.ACTIVATING_TRAFFIC, _ACTIVATING.format("full", n), both)
    if config is not None:
        message = _BAKING.format(termination, "TerminationWaitInSeconds", "full", n)
        plan.add("final_bake", (n, 0), termination, _S.BAKING, message, both)
    plan.add("retire", (n, 0), 0, _S.DELETING, f"Terminating {b} instance(s).", (n, 0))
    return tuple(plan.steps)


def plan_rolling(config: Mapping[str, Any], old_count: int, new_count: int) -> tuple[Step, ...]:
    """The rolling plan for one variant: per batch launch, shift, bake, then retire as many old instances.

    The batch is MaximumBatchSize of the new fleet; the last batch may be smaller. When the new fleet is
    smaller than the old one, the old instances left over are retired in further batches without a bake
    (no new capacity takes traffic in them); when it is larger, late batches retire nothing.
    """
    if new_count < 1 or old_count < 0:
        raise ValueError("a rolling plan needs at least one new instance")
    policy = _required(config, "RollingUpdatePolicy")
    k = capacity_instances(_required(policy, "MaximumBatchSize"), new_count)
    interval = int(policy.get("WaitIntervalInSeconds") or 0)
    plan = _Plan()
    green = retired = 0
    while green < new_count:
        launch = min(k, new_count - green)
        blue = old_count - retired
        message = f"Launching {launch} instance(s)."
        plan.add("provision_batch", (green, blue), 0, _S.CREATING, message, (green + launch, blue))
        green += launch
        message = _ACTIVATING.format("batch", launch)
        plan.add("shift_batch", (green, blue), 0, _S.ACTIVATING_TRAFFIC, message, (green, blue))
        message = _BAKING.format(interval, _WAIT, "new", green)
        plan.add("bake", (green, blue), interval, _S.BAKING, message, (green, blue))
        if blue:
            retired += _retire(plan, green, old_count - retired, k)
    while retired < old_count:
        retired += _retire(plan, green, old_count - retired, k)
    return tuple(plan.steps)


def _retire(plan: _Plan, green: int, blue: int, k: int) -> int:
    count = min(k, blue)
    left = blue - count
    plan.add(
        "retire_batch", (green, left), 0, _S.DELETING, f"Terminating {count} instance(s).", (green, left)
    )
    return count


def plan_deployment(config: Mapping[str, Any] | None, old_count: int, new_count: int) -> tuple[Step, ...]:
    """The plan the config asks for: rolling when it has a RollingUpdatePolicy, blue/green otherwise."""
    if config is not None and config.get("RollingUpdatePolicy") is not None:
        return plan_rolling(config, old_count, new_count)
    return plan_blue_green(config, new_count, old_count)


def total_wait_seconds(plan: Iterable[Step]) -> int:
    """The plan's baking time, the sum MaximumExecutionTimeoutInSeconds must exceed."""
    return sum(step.wait_seconds for step in plan)


def rollback_batches(
    config: Mapping[str, Any] | None, instances_to_restore: int, total: int | None = None
) -> tuple[int, ...]:
    """Old-fleet instances to bring back per rollback batch, in order.

    RollbackMaximumBatchSize (rolling only) sizes the batch against `total`, the old fleet's full count
    (`instances_to_restore` when not given); without it the whole old capacity comes back at once, as
    SageMaker documents (blue/green always rolls back in one step).
    """
    if instances_to_restore <= 0:
        return ()
    size = _size(config, "RollingUpdatePolicy", "RollbackMaximumBatchSize")
    if not isinstance(size, Mapping):
        return (instances_to_restore,)
    batch = capacity_instances(size, instances_to_restore if total is None else max(total, 1))
    full, rest = divmod(instances_to_restore, batch)
    return (batch,) * full + ((rest,) if rest else ())


def _required(mapping: Mapping[str, Any] | None, key: str) -> Mapping[str, Any]:
    value = _size(mapping, key)
    if not isinstance(value, Mapping):
        raise ValueError(f"the deployment config has no {key}")
    return value


# Sticky routing (issue 7 item 5): a session lands in a fixed bucket; it is on green while its bucket is
# below green's weight, so raising the weight only ever moves sessions from blue to green, never back.
# 53 bits: every such integer divided by 2**53 is an exact float strictly below 1.
_BITS = 53


def sticky_bucket(key: str) -> float:
    """A stable position in [0, 1) for a session or inference id (blake2b, so not Python's salted hash)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> (64 - _BITS)) / (1 << _BITS)


def routes_to_green(key: str, green_weight: float) -> bool:
    """Whether the request keyed `key` goes to the new fleet when it holds `green_weight` of the traffic."""
    return sticky_bucket(key) < green_weight
