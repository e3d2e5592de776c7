"""Endpoint instances as capacity reservations, which the training reconciler counts beside its own jobs.

Each variant the platform runs or is stopping (fleet, pending fleet, shadows, retiring) holds its
instance type's vCPUs and memory times its current instance count, ready or still starting, clamped
to the whole machine as a training job's reservation is (`CapacityPlanner.reservation`). The counts
are read from the endpoints' stored state (`EndpointState`, the resource's `observed`), so they hold
after a restart and the endpoint reconciler reports nothing. An endpoint that has failed (its
instances stopped, nothing due) holds nothing; one being deleted holds its instances until it is gone.

Decision: only training waits for capacity. Endpoints start whatever is free (their reconciler
never asks the planner): an endpoint is a long-lived service that SageMaker provisions on request,
not a batch job that can queue, and an endpoint stuck in Creating behind a training job would be
worse than a host briefly overcommitted. A training job that does not fit beside the endpoints'
instances and the other running jobs waits in Pending until endpoints are deleted or scaled down, or
jobs end; but a job never waits when no other training job runs, so endpoints cannot starve training.
"""

from __future__ import annotations

from collections.abc import Iterable

from sagemill.domain.endpoints import EndpointState
from sagemill.executors.capacity import CapacityPlanner, Reservation, UnknownInstanceType
from sagemill.store.base import Store

ENDPOINT_KIND = "endpoint"
"""`control.endpoints.KIND`, named here so that training does not load the model-serving stack."""
_FAR_FUTURE = 1e18  # every endpoint with instances has a next_action_at before this; a failed one none
_MAX_ENDPOINTS = 10_000


def variant_instances(state: EndpointState) -> list[tuple[str, int]]:
    """(instance type, current instance count) of every variant of the endpoint that has instances."""
    return [(v.instance_type, len(v.instances)) for v in state.all_variants if v.instances]


def endpoint_reservations(planner: CapacityPlanner, states: Iterable[EndpointState]) -> list[Reservation]:
    """One reservation per variant with instances; a type the planner cannot size holds nothing."""
    held: list[Reservation] = []
    for state in states:
        for instance_type, count in variant_instances(state):
            try:
                held.append(planner.reservation(instance_type, count))
            except UnknownInstanceType:
                continue
    return held


def running_endpoints(store: Store) -> list[EndpointState]:
    """The stored state of every endpoint that may have instances (every account and region)."""
    rows = store.due_resources(ENDPOINT_KIND, _FAR_FUTURE, _MAX_ENDPOINTS)
    return [EndpointState.from_json(row.observed) for row in rows]


def instance_count(states: Iterable[EndpointState]) -> int:
    """How many endpoint instances the states hold, for the Pending message."""
    return sum(count for state in states for _, count in variant_instances(state))
