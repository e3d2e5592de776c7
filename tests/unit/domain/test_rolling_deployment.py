"""The rolling-update walk: batches, bakes, guards, rollback in batches, UpdateRollbackFailed; pure."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sagemill.domain import deployment as rollouts
from sagemill.domain import rolling_deployment as walk
from sagemill.domain.endpoints import EndpointState, EndpointStatus, Instance, Variant
from sagemill.testing.variants import variant

E = EndpointStatus
T0 = 1000.0
ALARM = "ep-errors"


def _variant(model: str, count: int, instances: int = 0) -> Variant:
    weight = 1.0 if instances else 0.0
    return variant(model, count, ready=instances, started_at=T0 - 100, deployed_at=T0, current_weight=weight)


def _fill(variant: Variant, target: int | None, now: float, ready: bool = True) -> Variant:
    """What the reconciler's watch does: launch the variant up to `target` (its slots), healthy at once."""
    if target is None:
        target = variant.desired_count
    instances = list(variant.instances)
    launched = variant.launched
    while len(instances) < target:
        instances.append(Instance(f"{variant.model_name}-{launched}", 9000 + launched, now, ready=ready))
        launched += 1
    return replace(variant, instances=tuple(instances), launched=launched)


def _config(
    batch: dict[str, Any], wait: int = 10, rollback: dict[str, Any] | None = None, timeout: int | None = None
) -> dict[str, Any]:
    policy: dict[str, Any] = {"MaximumBatchSize": batch, "WaitIntervalInSeconds": wait}
    if rollback is not None:
        policy["RollbackMaximumBatchSize"] = rollback
    if timeout is not None:
        policy["MaximumExecutionTimeoutInSeconds"] = timeout
    return {
        "RollingUpdatePolicy": policy,
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": ALARM}]},
    }


def _updating(config: dict[str, Any], old: int = 4, new: int = 4) -> EndpointState:
    """An endpoint just after UpdateEndpoint, its new fleet planned, the walk begun."""
    state = EndpointState(
        status=E.UPDATING,
        config_name="old-config",
        fleet=(_variant("old", old, old),),
        pending_config="new-config",
        pending=(_variant("new", new),),
        pending_since=T0,
        extra={rollouts.DEPLOYMENT: rollouts.start(config, T0)},
    )
    return walk.begin(state, T0)


class World:
    """Ticks the walk as the reconciler does: watch both fleets at their targets, step, persist."""

    def __init__(self, state: EndpointState, alarm: str = "OK") -> None:
        self.state = state
        self.now = T0
        self.alarm = alarm
        self.weights: list[float] = []
        self.targets: list[tuple[int | None, int | None]] = []

    def alarms(self, names: list[str]) -> dict[str, str]:
        return {n: self.alarm for n in names}

    def tick(self, seconds: float = 1.0, green_failure: str = "", healthy: bool = True) -> EndpointState:
        self.now += seconds
        old, new = walk.targets(self.state)
        state = replace(
            self.state,
            fleet=tuple(_fill(v, old, self.now, healthy) for v in self.state.fleet),
            pending=tuple(_fill(v, new, self.now) for v in self.state.pending),
        )
        state = walk.step(state, self.now, self.alarms, green_failure, 120.0)
        # Every step is persisted: the next tick starts from what the store would give back.
        self.state = EndpointState.from_json(state.to_json())
        self.weights.append(rollouts.green_weight(self.state))
        self.targets.append(walk.targets(self.state))
        return self.state

    def until(self, done: Any, limit: int = 100) -> EndpointState:
        for _ in range(limit):
            if done(self.state):
                return self.state
            self.tick()
        raise AssertionError("never reached")

    def run(self, limit: int = 200, **kw: Any) -> EndpointState:
        for _ in range(limit):
            if self.state.status is not E.UPDATING:
                return self.state
            self.tick(**kw)
        raise AssertionError("the walk did not end")


def _kinds(state: EndpointState) -> list[str]:
    return [e["kind"] for e in state.extra[rollouts.HISTORY][-1]["events"]]


def _retired(state: EndpointState) -> list[str]:
    return [i.instance_id for v in state.retiring for i in v.instances]


def test_four_instances_in_batches_of_two_complete() -> None:
    world = World(_updating(_config({"Type": "CAPACITY_PERCENT", "Value": 50})))
    assert world.state.fleet[0].statuses[0].status == "Updating"
    assert walk.targets(world.state) == (4, 0)
    done = world.run()
    assert done.status is E.IN_SERVICE and done.config_name == "new-config"
    assert [v.model_name for v in done.fleet] == ["new"] and len(done.fleet[0].ready) == 4
    assert done.fleet[0].current_weight == 1.0 and done.fleet[0].statuses == ()
    assert (done.pending, done.pending_config, done.failure_reason) == ((), "", "")
    assert sorted(_retired(done)) == [f"old-{i}" for i in range(4)]
    assert rollouts.DEPLOYMENT not in done.extra
    assert done.extra[rollouts.HISTORY][-1]["outcome"] == "Completed"
    # Traffic follows active capacity: 2 new beside 4 old, then 2 beside 2, 4 beside 2; the last retirement
    # and the promotion share a tick.
    shares = [w for i, w in enumerate(world.weights) if i == 0 or w != world.weights[i - 1]]
    assert shares == pytest.approx([0.0, 1 / 3, 0.5, 2 / 3, 0.0])
    targets = [t for i, t in enumerate(world.targets) if i == 0 or t != world.targets[i - 1]]
    # A batch's retirement and the next batch's launch share a tick too.
    assert targets == [(4, 2), (2, 4), (None, None)]
    assert _kinds(done).count("BatchRetired") == 2 and _kinds(done).count("Baked") == 2


def test_bakes_wait_their_interval_and_resume_from_the_stored_record() -> None:
    world = World(_updating(_config({"Type": "INSTANCE_COUNT", "Value": 2}, wait=30)))
    world.tick()  # the first batch's target is set
    world.tick()  # the watch launched it, healthy: traffic shifts, the bake starts
    assert rollouts.green_weight(world.state) == pytest.approx(1 / 3)
    deployment = world.state.extra[rollouts.DEPLOYMENT]
    baking_since = deployment["step_started"]
    assert world.state.pending[0].statuses[0].status == "Baking"
    started = world.state.pending[0].statuses[0].start_time
    for _ in range(28):
        world.tick()
    assert world.state.fleet[0].instances and len(world.state.fleet[0].instances) == 4
    assert world.state.pending[0].statuses[0].start_time == started  # a bake that does not move keeps it
    # A restarted server reads the same record: the bake keeps its deadline.
    restarted = EndpointState.from_json(world.state.to_json())
    assert restarted.extra[rollouts.DEPLOYMENT]["step_started"] == baking_since
    world.state = restarted
    world.tick(seconds=2.0)
    assert walk.targets(world.state) == (2, 4)
    assert len(world.state.retiring[0].instances) == 2


def test_same_state_and_time_give_the_same_step() -> None:
    state = _updating(_config({"Type": "INSTANCE_COUNT", "Value": 2}, wait=0))
    watched = replace(state, pending=(_fill(state.pending[0], 2, T0 + 1),))
    first = walk.step(watched, T0 + 1, lambda names: {}, "", 120.0)
    again = walk.step(watched, T0 + 1, lambda names: {}, "", 120.0)
    assert first.to_json() == again.to_json()


def test_an_alarm_during_a_bake_moves_all_traffic_back_at_once() -> None:
    world = World(_updating(_config({"Type": "CAPACITY_PERCENT", "Value": 50}, wait=60)))
    world.until(lambda s: rollouts.green_weight(s) > 0)
    world.alarm = "ALARM"
    done = world.tick()
    # The old fleet never lost an instance: one tick takes traffic back and tears the new fleet down.
    assert done.status is E.IN_SERVICE and done.config_name == "old-config"
    assert ALARM in done.failure_reason and "rolled back" in done.failure_reason
    assert "batch 1 of 2" in done.failure_reason
    assert len(done.fleet[0].ready) == 4 and done.fleet[0].model_name == "old"
    assert (done.pending, done.pending_config) == ((), "")
    assert sorted(_retired(done)) == ["new-0", "new-1"]
    assert _kinds(done)[-3:] == ["AlarmTripped", "TrafficRolledBack", "RolledBack"]
    assert done.extra[rollouts.HISTORY][-1]["events"][-3]["alarms"] == {ALARM: "ALARM"}


def test_a_rollback_relaunches_the_old_capacity_in_rollback_batches() -> None:
    config = _config(
        {"Type": "INSTANCE_COUNT", "Value": 1}, wait=2, rollback={"Type": "INSTANCE_COUNT", "Value": 1}
    )
    world = World(_updating(config))
    while walk.targets(world.state)[0] != 2:
        world.tick()
    assert rollouts.green_weight(world.state) == pytest.approx(0.5)
    world.alarm = "ALARM"
    state = world.tick()
    assert state.status is E.UPDATING
    assert rollouts.green_weight(state) == 0.0  # the two old instances left take all traffic at once
    assert walk.targets(state)[0] == 3  # the first rollback batch: one more old instance
    assert state.pending and state.pending[0].statuses[0].status == "Deleting"  # warm, no traffic
    assert "Rolling back" in state.fleet[0].statuses[0].message
    state = world.tick()
    assert walk.targets(state)[0] == 4
    done = world.tick()
    assert done.status is E.IN_SERVICE and done.config_name == "old-config"
    assert len(done.fleet[0].ready) == 4 and {i.instance_id for i in done.fleet[0].instances} >= {"old-4"}
    assert "new-0" in _retired(done) and "new-1" in _retired(done)
    assert _kinds(done).count("OldCapacityRestored") == 2


def test_with_no_old_instance_left_the_new_fleet_serves_until_the_first_batch_is_back() -> None:
    world = World(_updating(_config({"Type": "INSTANCE_COUNT", "Value": 1}, wait=1), old=1, new=3))
    while walk.targets(world.state)[0] != 0:
        world.tick()
    world.alarm = "ALARM"
    world.now += 1
    new = walk.targets(world.state)[1]
    state = walk.step(
        replace(world.state, pending=(_fill(world.state.pending[0], new, world.now),)),
        world.now,
        world.alarms,
        "",
        120.0,
    )
    assert state.status is E.UPDATING and walk.targets(state)[0] == 1
    assert rollouts.green_weight(state) == 1.0  # nothing old to send traffic to yet
    world.state = state
    done = world.tick()
    assert done.status is E.IN_SERVICE and done.config_name == "old-config" and len(done.fleet[0].ready) == 1


def test_a_failed_new_instance_rolls_back() -> None:
    world = World(_updating(_config({"Type": "INSTANCE_COUNT", "Value": 2})))
    done = world.tick(green_failure="The model server of instance new-1 exited with code 1.")
    assert done.status is E.IN_SERVICE and done.config_name == "old-config"
    assert done.failure_reason == (
        "Update failed, the endpoint kept its previous configuration: "
        "The model server of instance new-1 exited with code 1."
    )


def test_the_overall_deadline_rolls_back() -> None:
    world = World(_updating(_config({"Type": "INSTANCE_COUNT", "Value": 1}, wait=300, timeout=600)))
    assert world.state.extra[rollouts.DEPLOYMENT]["deadline"] == T0 + 600
    world.tick()
    done = world.tick(seconds=600)
    assert (
        done.status is E.IN_SERVICE
        and "MaximumExecutionTimeoutInSeconds (600 seconds)" in done.failure_reason
    )


def test_an_alarm_already_firing_stops_the_update_before_the_first_shift() -> None:
    world = World(_updating(_config({"Type": "INSTANCE_COUNT", "Value": 2})), alarm="ALARM")
    # The first batch is still launching: an alarm already in ALARM does not stop it yet.
    state = world.tick()
    assert state.status is E.UPDATING and walk.targets(state) == (4, 2)
    done = world.tick()  # healthy: the alarm is read before the first shift
    assert done.status is E.IN_SERVICE and ALARM in done.failure_reason
    assert world.weights == [0.0, 0.0]
    assert "batch 1 of 2" in done.failure_reason


def test_a_failed_restore_ends_update_rollback_failed_serving_both_configurations() -> None:
    config = _config(
        {"Type": "INSTANCE_COUNT", "Value": 2}, wait=1, rollback={"Type": "INSTANCE_COUNT", "Value": 1}
    )
    world = World(_updating(config))
    while walk.targets(world.state)[0] != 2:
        world.tick()
    world.alarm = "ALARM"
    state = world.tick(healthy=False)  # rollback starts; the relaunched old instance never gets healthy
    assert state.status is E.UPDATING and walk.targets(state) == (3, 4)
    world.now += 1
    blue = _fill(state.fleet[0], 3, world.now, ready=False)
    crashed = replace(
        blue, failures=1, retry_at=world.now + 1, last_failure="The instance exited with code 1."
    )
    failed = walk.step(replace(state, fleet=(crashed,)), world.now, world.alarms, "", 120.0)
    assert failed.status is E.UPDATE_ROLLBACK_FAILED
    assert failed.config_name == "old-config" and (failed.pending, failed.pending_config) == ((), "")
    [variant] = failed.fleet
    ids = {i.instance_id for i in variant.instances}
    assert {"new-0", "new-1"} <= ids and len([i for i in ids if i.startswith("old-")]) == 3
    assert {"new-2", "new-3"} <= ids  # the second batch was launching when the alarm fired
    assert variant.desired_count == 7 and variant.statuses[0].status == "Updating"
    assert "mix of the old and new endpoint configurations" in failed.failure_reason
    assert ALARM in failed.failure_reason and "exited with code 1" in failed.failure_reason
    assert failed.extra[rollouts.HISTORY][-1]["outcome"] == "UpdateRollbackFailed"
    assert rollouts.DEPLOYMENT not in failed.extra


def test_an_old_instance_that_never_answers_ping_fails_the_rollback() -> None:
    world = World(_updating(_config({"Type": "INSTANCE_COUNT", "Value": 2}, wait=1)))
    while walk.targets(world.state)[0] != 2:
        world.tick()
    world.alarm = "ALARM"
    state = world.tick(healthy=False)
    assert state.status is E.UPDATING and walk.targets(state) == (4, 4)
    assert rollouts.green_weight(state) == 0.0
    world.state = state
    state = world.tick(healthy=False)  # the watch relaunches two old instances; they never answer
    state = world.tick(seconds=119, healthy=False)
    assert state.status is E.UPDATING
    failed = world.tick(seconds=2, healthy=False)
    assert failed.status is E.UPDATE_ROLLBACK_FAILED and "did not pass the ping" in failed.failure_reason


def test_a_smaller_new_fleet_retires_the_rest_of_the_old_one() -> None:
    done = World(_updating(_config({"Type": "INSTANCE_COUNT", "Value": 1}, wait=0), old=4, new=2)).run()
    assert done.status is E.IN_SERVICE and len(done.fleet[0].instances) == 2
    assert len(_retired(done)) == 4


def test_a_larger_new_fleet_completes() -> None:
    world = World(_updating(_config({"Type": "INSTANCE_COUNT", "Value": 1}, wait=0), old=2, new=5))
    done = world.run()
    assert done.status is E.IN_SERVICE and len(done.fleet[0].ready) == 5 and len(_retired(done)) == 2


def test_variant_statuses_follow_the_walk() -> None:
    state = _updating(_config({"Type": "INSTANCE_COUNT", "Value": 2}, wait=5))
    [green] = state.pending
    assert (green.statuses[0].status, green.statuses[0].message) == ("Creating", "Launching 2 instance(s).")
    assert state.fleet[0].statuses[0].message == (
        "Rolling update, batch 1 of 2: 4 of 4 old and 0 of 4 new instance(s) running."
    )


def test_begin_refuses_renamed_or_several_variants() -> None:
    config = _config({"Type": "INSTANCE_COUNT", "Value": 1})
    state = EndpointState(
        status=E.UPDATING,
        config_name="old-config",
        fleet=(_variant("old", 2, 2),),
        pending_config="new-config",
        pending=(replace(_variant("new", 2), name="Other"),),
        extra={rollouts.DEPLOYMENT: rollouts.start(config, T0)},
    )
    done = walk.begin(state, T0)
    assert done.status is E.IN_SERVICE and done.config_name == "old-config" and not done.pending
    assert "one production variant of the same name" in done.failure_reason


def test_only_rolling_configs_take_this_walk() -> None:
    state = _updating(_config({"Type": "INSTANCE_COUNT", "Value": 1}))
    assert walk.is_rolling(state) and walk.started(state)
    blue_green = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE"}}}
    other = replace(state, extra={rollouts.DEPLOYMENT: rollouts.start(blue_green, T0)})
    assert not walk.is_rolling(other) and walk.targets(other) == (None, None)
    assert not walk.is_rolling(EndpointState())
