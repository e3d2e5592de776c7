"""Endpoints: SageMaker's endpoint statuses, their transitions, and the fleet the platform observes. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any


class EndpointStatus(StrEnum):
    OUT_OF_SERVICE = "OutOfService"
    CREATING = "Creating"
    UPDATING = "Updating"
    SYSTEM_UPDATING = "SystemUpdating"
    ROLLING_BACK = "RollingBack"
    IN_SERVICE = "InService"
    DELETING = "Deleting"
    FAILED = "Failed"
    UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"


E = EndpointStatus

# Which status may follow which (guardrails-and-alarms.md §1.4). Deleting is reachable from every
# status but itself: DeleteEndpoint is accepted whatever the endpoint is doing.
TRANSITIONS: dict[EndpointStatus, frozenset[EndpointStatus]] = {
    E.CREATING: frozenset({E.IN_SERVICE, E.FAILED, E.DELETING}),
    E.IN_SERVICE: frozenset({E.UPDATING, E.SYSTEM_UPDATING, E.DELETING}),
    E.UPDATING: frozenset({E.IN_SERVICE, E.ROLLING_BACK, E.UPDATE_ROLLBACK_FAILED, E.DELETING}),
    E.SYSTEM_UPDATING: frozenset({E.IN_SERVICE, E.DELETING}),
    E.ROLLING_BACK: frozenset({E.IN_SERVICE, E.DELETING}),
    E.UPDATE_ROLLBACK_FAILED: frozenset({E.UPDATING, E.DELETING}),
    E.OUT_OF_SERVICE: frozenset({E.IN_SERVICE, E.DELETING}),
    E.FAILED: frozenset({E.DELETING}),
    E.DELETING: frozenset(),
}

# Statuses in which an update (config, weights or capacities) is accepted.
UPDATABLE = frozenset({E.IN_SERVICE, E.UPDATE_ROLLBACK_FAILED})
IN_PROGRESS = frozenset({E.CREATING, E.UPDATING, E.SYSTEM_UPDATING, E.ROLLING_BACK, E.DELETING})


class InvalidTransition(ValueError):
    """A status was asked to follow one it cannot follow."""


class VariantStatusName(StrEnum):
    CREATING = "Creating"
    UPDATING = "Updating"
    DELETING = "Deleting"
    ACTIVATING_TRAFFIC = "ActivatingTraffic"
    BAKING = "Baking"


@dataclass(frozen=True, slots=True)
class VariantStatus:
    status: str
    message: str
    start_time: float


@dataclass(frozen=True, slots=True)
class Instance:
    """One model-server process of a variant."""

    instance_id: str
    port: int
    started_at: float
    ready: bool = False
    ping_failures: int = 0
    """Consecutive failed pings once ready: a hung server is replaced after a few."""
    log_offset: int = 0


@dataclass(frozen=True, slots=True)
class Variant:
    """A production variant as deployed: its model, weights, counts and instances."""

    name: str
    model_name: str
    image: str
    model_dir: str
    """The extracted model.tar.gz every instance of this variant serves."""
    instance_type: str
    kind: str
    """The model server's --kind for the variant's image."""
    environment: dict[str, str]
    """The model container's Environment, kept so a replacement starts even if the Model is deleted."""
    desired_count: int
    desired_weight: float
    current_weight: float
    deployed_at: float
    instances: tuple[Instance, ...] = ()
    statuses: tuple[VariantStatus, ...] = ()
    launched: int = 0
    """Instances started so far: the next one's slot, from which its id is derived (a retried step adopts)."""
    failures: int = 0
    """Consecutive instance failures; replacements wait `backoff_seconds(failures)` after the last."""
    retry_at: float | None = None
    last_failure: str = ""

    @property
    def ready(self) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.ready)

    @property
    def complete(self) -> bool:
        """Enough ready instances, and no more instances than wanted."""
        return len(self.ready) >= self.desired_count and len(self.instances) == self.desired_count

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> Variant:
        return Variant(
            **{
                **data,
                "instances": tuple(Instance(**i) for i in data.get("instances", [])),
                "statuses": tuple(VariantStatus(**s) for s in data.get("statuses", [])),
            }
        )


@dataclass(frozen=True, slots=True)
class EndpointState:
    """What the platform has observed of an endpoint; stored as the resource's `observed` JSON.

    `fleet` serves traffic (DescribeEndpoint's ProductionVariants); `pending` is the new config's
    fleet while an UpdateEndpoint brings it up, promoted to `fleet` once every instance is healthy.
    """

    status: EndpointStatus = E.CREATING
    failure_reason: str = ""
    config_name: str = ""
    fleet: tuple[Variant, ...] = ()
    pending_config: str = ""
    pending: tuple[Variant, ...] = ()
    retiring: tuple[Variant, ...] = ()
    """Variants that no longer take traffic and whose instances are being stopped."""
    pending_since: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    shadows: tuple[Variant, ...] = ()
    """The config's ShadowProductionVariants: sent a sample of copied requests, their answers discarded."""
    pending_shadows: tuple[Variant, ...] = ()
    """The pending config's shadow variants; they replace `shadows` when `pending` is promoted."""

    @property
    def all_variants(self) -> tuple[Variant, ...]:
        """Every variant whose instances the platform runs or is stopping."""
        return self.fleet + self.pending + self.shadows + self.pending_shadows + self.retiring

    @property
    def serving(self) -> bool:
        """Whether the routing table should hold this endpoint's fleet."""
        return self.status not in (E.CREATING, E.FAILED, E.DELETING)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "failure_reason": self.failure_reason,
            "config_name": self.config_name,
            "fleet": [v.to_json() for v in self.fleet],
            "pending_config": self.pending_config,
            "pending": [v.to_json() for v in self.pending],
            "retiring": [v.to_json() for v in self.retiring],
            "pending_since": self.pending_since,
            "extra": dict(self.extra),
            "shadows": [v.to_json() for v in self.shadows],
            "pending_shadows": [v.to_json() for v in self.pending_shadows],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> EndpointState:
        if not data:
            return EndpointState()
        return EndpointState(
            status=EndpointStatus(data["status"]),
            failure_reason=data.get("failure_reason", ""),
            config_name=data.get("config_name", ""),
            fleet=tuple(Variant.from_json(v) for v in data.get("fleet", [])),
            pending_config=data.get("pending_config", ""),
            pending=tuple(Variant.from_json(v) for v in data.get("pending", [])),
            retiring=tuple(Variant.from_json(v) for v in data.get("retiring", [])),
            pending_since=data.get("pending_since"),
            extra=dict(data.get("extra", {})),
            shadows=tuple(Variant.from_json(v) for v in data.get("shadows", [])),
            pending_shadows=tuple(Variant.from_json(v) for v in data.get("pending_shadows", [])),
        )


BACKOFF_CAP_SECONDS = 30.0
STABLE_SECONDS = 10.0
"""A variant complete this long after its last retry is healthy again: its failure count resets."""


def backoff_seconds(failures: int) -> float:
    """Wait before replacing a crashed instance: 1 s, 2 s, 4 s ... capped at 30 s."""
    return min(BACKOFF_CAP_SECONDS, 2.0 ** max(0, failures - 1))


def record_failure(variant: Variant, reason: str, now: float) -> Variant:
    """One more consecutive failure of an instance of this variant; replacements back off."""
    failures = variant.failures + 1
    return replace(
        variant, failures=failures, retry_at=now + backoff_seconds(failures), last_failure=reason[:700]
    )


def backoff_message(variant: Variant) -> str:
    wait = backoff_seconds(variant.failures)
    return (
        f"Restarting a failed instance with backoff ({variant.failures} consecutive failure(s), "
        f"waiting {wait:g} s). Last failure: {variant.last_failure}"
    )[:1024]


def move(state: EndpointState, to: EndpointStatus) -> EndpointState:
    """Change status by the transition table; staying put is allowed."""
    if to != state.status and to not in TRANSITIONS[state.status]:
        raise InvalidTransition(f"{state.status.value} cannot be followed by {to.value}")
    return replace(state, status=to)


def fail(state: EndpointState, reason: str) -> EndpointState:
    """End Failed; SageMaker keeps the first 1024 characters of the reason."""
    return replace(move(state, E.FAILED), failure_reason=reason[:1024])


def with_status(variant: Variant, status: VariantStatusName | None, message: str, now: float) -> Variant:
    """Replace the variant's VariantStatus list with one entry (or none once it is settled)."""
    if status is None:
        return replace(variant, statuses=())
    current = variant.statuses[0] if variant.statuses else None
    if current is not None and current.status == status.value and current.message == message:
        return variant
    return replace(variant, statuses=(VariantStatus(status.value, message, now),))


def update_refusal(status: EndpointStatus, arn: str) -> str | None:
    """SageMaker's ValidationException message for an update in this status, or None if allowed."""
    if status in UPDATABLE:
        return None
    if status is E.FAILED:
        return f'Cannot update failed endpoint "{arn}".'
    return f'Cannot update in-progress endpoint "{arn}".'


def choose_weighted(weights: Sequence[float], r: float) -> int:
    """The index picked by weight for a uniform `r` in [0, 1); all-zero weights pick nothing (-1)."""
    total = sum(w for w in weights if w > 0)
    if total <= 0:
        return -1
    target = r * total
    running = 0.0
    last = -1
    for index, weight in enumerate(weights):
        if weight <= 0:
            continue
        running += weight
        last = index
        if target < running:
            return index
    return last
