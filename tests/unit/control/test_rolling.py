"""RollingDriver against a fake watch: fleets watched at the walk's targets, shown at config counts."""

from __future__ import annotations

from dataclasses import replace

from sagemill.control.rolling import RollingDriver, fleet_routes
from sagemill.domain import deployment as rollouts
from sagemill.domain import rolling_deployment as walk
from sagemill.domain.endpoints import (
    EndpointState,
    EndpointStatus,
    Instance,
    Variant,
    VariantStatus,
    VariantStatusName,
    with_status,
)
from sagemill.domain.resources import Resource, ResourceKey
from sagemill.serving.deploy import DeployProblem
from sagemill.testing.variants import variant

E = EndpointStatus
CONFIG = {
    "RollingUpdatePolicy": {
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 2},
        "WaitIntervalInSeconds": 0,
    }
}
RESOURCE = Resource(
    key=ResourceKey("111122223333", "us-east-1", "endpoint", "ep"),
    arn="arn:aws:sagemaker:us-east-1:111122223333:endpoint/ep",
    desired={},
    created_at=0.0,
    updated_at=0.0,
)


def _variant(model: str, count: int, instances: int) -> Variant:
    return variant(model, count, ready=instances)


class FakeFleets:
    """The reconciler's side: a watch that launches up to each desired count, optionally failing one."""

    def __init__(self, fail: str = "") -> None:
        self.fail = fail
        self.watched: list[tuple[str, int, bool]] = []
        self.planned = 0

    def watch(
        self, resource: Resource, fleet: tuple[Variant, ...], now: float, *, replace_dead: bool
    ) -> tuple[tuple[Variant, ...], str]:
        out = []
        failure = ""
        for v in fleet:
            self.watched.append((v.model_name, v.desired_count, replace_dead))
            if self.fail and not replace_dead and v.instances:
                # As the real watch does: it stops at the failed instance and drops the ones after it.
                out.append(replace(v, instances=v.instances[:1]))
                failure = self.fail
                continue
            instances = list(v.instances)
            while len(instances) < v.desired_count:
                instances.append(Instance(f"{v.model_name}-{len(instances)}", 9100, now, ready=True))
            watched = replace(v, instances=tuple(instances), launched=len(instances))
            out.append(with_status(watched, VariantStatusName.CREATING, "the watch's own status", now))
        return tuple(out), failure

    def retire(self, resource: Resource, retiring: tuple[Variant, ...]) -> tuple[Variant, ...]:
        return ()

    def plan(self, resource: Resource, config_name: str, now: float) -> tuple[Variant, ...]:
        self.planned += 1
        if config_name == "broken":
            raise DeployProblem('Could not find model "gone".')
        return (_variant("new", 4, 0),)


def _driver(fleets: FakeFleets) -> RollingDriver:
    return RollingDriver(
        watch=fleets.watch,
        retire=fleets.retire,
        plan=fleets.plan,
        alarm_states=lambda resource: lambda names: {},
        startup_timeout=120.0,
    )


def _updating(config_name: str = "new-config") -> EndpointState:
    return EndpointState(
        status=E.UPDATING,
        config_name="old-config",
        fleet=(_variant("old", 4, 4),),
        pending_config=config_name,
        extra={rollouts.DEPLOYMENT: rollouts.start(CONFIG, 0.0)},
    )


def test_the_first_tick_plans_the_new_fleet_and_begins_the_walk() -> None:
    fleets = FakeFleets()
    state = _driver(fleets).serve(RESOURCE, _updating(), 1.0)
    assert fleets.planned == 1 and walk.started(state)
    assert [v.model_name for v in state.pending] == ["new"] and not state.pending[0].instances
    assert walk.targets(state) == (4, 0)


def test_each_fleet_is_watched_at_its_target_and_keeps_its_config_count() -> None:
    fleets = FakeFleets()
    driver = _driver(fleets)
    state = driver.serve(RESOURCE, _updating(), 1.0)
    state = driver.serve(RESOURCE, state, 2.0)  # sets the first batch's target
    assert walk.targets(state) == (4, 2)
    fleets.watched.clear()
    state = driver.serve(RESOURCE, state, 3.0)
    assert fleets.watched == [("old", 4, True), ("new", 2, False)]
    [green] = state.pending
    assert green.desired_count == 4 and len(green.instances) == 2  # DescribeEndpoint: 2 of 4
    # The walk's statuses, not the watch's.
    assert all(s.message != "the watch's own status" for v in state.fleet + state.pending for s in v.statuses)
    assert rollouts.green_weight(state) > 0  # wait 0: the batch shifted, baked and retired two old ones
    assert walk.targets(state) == (2, 4) and len(state.retiring[0].instances) == 2
    routes = fleet_routes(state)
    assert [(r.config_name, len(r.backends)) for r in routes] == [("", 2), ("new-config", 2)]
    assert sum(r.weight for r in routes) == 1.0


def test_a_failed_new_instance_keeps_every_instance_for_retirement() -> None:
    fleets = FakeFleets()
    driver = _driver(fleets)
    state = driver.serve(RESOURCE, _updating(), 1.0)
    state = driver.serve(RESOURCE, state, 2.0)
    state = driver.serve(RESOURCE, state, 3.0)  # two new instances run
    fleets.fail = "The model server of instance new-0 exited with code 1."
    statuses = (VariantStatus("Creating", "x", 0.0),)
    state = replace(state, pending=(replace(state.pending[0], statuses=statuses),))
    state = driver.serve(RESOURCE, state, 4.0)
    # Two old instances were retired already: the rollback relaunches them, the new ones stay warm.
    assert state.status is E.UPDATING and {i.instance_id for i in state.pending[0].instances} == {
        "new-0",
        "new-1",
    }
    assert rollouts.green_weight(state) == 0.0
    done = driver.serve(RESOURCE, state, 5.0)
    assert (
        done.status is E.IN_SERVICE
        and len(done.fleet[0].ready) == 4
        and "exited with code 1" in done.failure_reason
    )
    assert {"new-0", "new-1"} <= {i.instance_id for v in done.retiring for i in v.instances}


def test_a_config_that_cannot_be_deployed_keeps_the_old_one() -> None:
    done = _driver(FakeFleets()).serve(RESOURCE, _updating("broken"), 1.0)
    assert done.status is E.IN_SERVICE and done.config_name == "old-config"
    assert done.failure_reason == (
        'Update failed, the endpoint kept its previous configuration: Could not find model "gone".'
    )
    assert rollouts.DEPLOYMENT not in done.extra and not done.pending
