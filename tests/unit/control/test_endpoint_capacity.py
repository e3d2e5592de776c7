"""Endpoint instances as capacity reservations for training: the arithmetic and the stored-state read."""

from __future__ import annotations

from sagemill.control import endpoint_capacity
from sagemill.control.endpoint_capacity import (
    ENDPOINT_KIND,
    endpoint_reservations,
    instance_count,
    running_endpoints,
    variant_instances,
)
from sagemill.domain.endpoints import EndpointState, EndpointStatus, Instance, Variant
from sagemill.domain.resources import Resource, ResourceKey
from sagemill.executors.capacity import CapacityPlanner, Machine, Reservation

PLANNER = CapacityPlanner(Machine(cpus=8, memory_mib=32 * 1024))


def variant(name: str, instance_type: str, instances: int) -> Variant:
    return Variant(
        name=name,
        model_name="m",
        image="img",
        model_dir="/models/m",
        instance_type=instance_type,
        kind="xgboost",
        environment={},
        desired_count=instances,
        desired_weight=1.0,
        current_weight=1.0,
        deployed_at=0.0,
        instances=tuple(Instance(f"{name}-{i}", 9000 + i, 0.0) for i in range(instances)),
    )


def test_each_variant_holds_its_type_times_its_current_instances() -> None:
    state = EndpointState(
        status=EndpointStatus.UPDATING,
        fleet=(variant("blue", "ml.m5.large", 2),),
        pending=(variant("green", "ml.c5.xlarge", 1), variant("empty", "ml.m5.large", 0)),
        retiring=(variant("old", "ml.t3.medium", 1),),
    )
    assert variant_instances(state) == [("ml.m5.large", 2), ("ml.c5.xlarge", 1), ("ml.t3.medium", 1)]
    assert endpoint_reservations(PLANNER, [state]) == [
        Reservation(4, 16 * 1024),  # 2 x (2 vCPUs, 8 GiB)
        Reservation(4, 8 * 1024),
        Reservation(2, 4 * 1024),
    ]
    assert instance_count([state, state]) == 8


def test_a_full_machine_makes_a_training_job_wait() -> None:
    state = EndpointState(status=EndpointStatus.IN_SERVICE, fleet=(variant("a", "ml.m5.large", 3),))
    held = endpoint_reservations(PLANNER, [state])
    large = PLANNER.reservation("ml.m5.large")
    assert held == [Reservation(6, 24 * 1024)]
    assert PLANNER.fits(large, held)  # 2 vCPUs and 8 GiB are still free
    assert not PLANNER.fits(large, [*held, large])
    assert PLANNER.fits(large, endpoint_reservations(PLANNER, []))


def test_a_variant_larger_than_the_machine_is_clamped_and_unknown_types_hold_nothing() -> None:
    state = EndpointState(
        fleet=(variant("huge", "ml.m5.24xlarge", 2), variant("odd", "local_gpu", 1)),
    )
    assert endpoint_reservations(PLANNER, [state]) == [Reservation(8, 32 * 1024)]


class Rows:
    def __init__(self, rows: list[Resource]) -> None:
        self.rows = rows
        self.asked: list[tuple[str, float, int]] = []

    def due_resources(self, kind: str, now: float, limit: int) -> list[Resource]:
        self.asked.append((kind, now, limit))
        return [r for r in self.rows if r.next_action_at is not None and r.next_action_at <= now]


def row(name: str, state: EndpointState, next_action_at: float | None) -> Resource:
    return Resource(
        key=ResourceKey("111122223333", "us-east-1", ENDPOINT_KIND, name),
        arn=f"arn:aws:sagemaker:us-east-1:111122223333:endpoint/{name}",
        desired={},
        created_at=0.0,
        updated_at=0.0,
        status=state.status.value,
        next_action_at=next_action_at,
        observed=state.to_json(),
    )


def test_every_endpoint_with_a_next_action_is_read_from_its_stored_state() -> None:
    serving = EndpointState(status=EndpointStatus.IN_SERVICE, fleet=(variant("a", "ml.m5.large", 1),))
    failed = EndpointState(status=EndpointStatus.FAILED, fleet=(variant("b", "ml.m5.large", 1),))
    store = Rows([row("serving", serving, 1e9), row("failed", failed, None)])
    states = running_endpoints(store)  # type: ignore[arg-type]
    assert states == [serving]
    [(kind, now, _)] = store.asked
    assert kind == ENDPOINT_KIND and now >= 1e18


def test_the_kind_is_the_endpoint_reconcilers() -> None:
    from sagemill.control.endpoints import KIND

    assert endpoint_capacity.ENDPOINT_KIND == KIND
