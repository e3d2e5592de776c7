"""Operators' controls of a rolling update: pause holds batches and bakes, promote skips bakes; abort."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from test_rolling_deployment import ALARM, T0, World, _config, _kinds, _retired, _updating

from sagemill.domain import deployment as rollouts
from sagemill.domain import rolling_deployment as walk
from sagemill.domain.deployment_controls import ControlRefused, request
from sagemill.domain.endpoints import EndpointState, EndpointStatus

E = EndpointStatus
ME = "arn:aws:iam::111122223333:root"
HALF = {"Type": "CAPACITY_PERCENT", "Value": 50}
ONE = {"Type": "INSTANCE_COUNT", "Value": 1}


def control(world: World, action: str, note: str = "") -> None:
    world.state = EndpointState.from_json(request(world.state, action, ME, world.now, note).to_json())


def record(world: World) -> dict[str, Any]:
    return dict(world.state.extra[rollouts.DEPLOYMENT])


def baking(world: World) -> EndpointState:
    return world.until(lambda s: s.pending and s.pending[0].statuses[0].status == "Baking")


def test_pause_in_a_bake_holds_everything_past_the_bake_and_the_deadline_then_resume_keeps_the_rest() -> None:
    world = World(_updating(_config(HALF, wait=30, timeout=600)))
    baking(world)
    world.tick(seconds=10)  # 10 of the 30 s baked (the bake began a second after the shift)
    began = record(world)["step_started"]
    control(world, "pause", "dashboards")
    paused = record(world)[rollouts.PAUSED]
    assert paused["remaining"] == pytest.approx(began + 30 - world.now)
    targets, weight = walk.targets(world.state), rollouts.green_weight(world.state)
    for _ in range(10):
        world.tick(seconds=100)  # 1000 s: past the bake and past MaximumExecutionTimeoutInSeconds
    assert world.state.status is E.UPDATING
    assert (walk.targets(world.state), rollouts.green_weight(world.state)) == (targets, weight)
    assert not _retired(world.state)
    [green] = world.state.pending
    assert green.statuses[0].status == "Baking"
    left = f"{round(paused['remaining'], 1):g}"
    assert green.statuses[0].message.startswith(
        f"Deployment paused with {left} of 30 seconds of baking left. Baking for 30"
    )
    assert (
        world.state.fleet[0].statuses[0].message.startswith("Rolling update paused at batch 1 of 2: 4 of 4")
    )

    deadline = record(world)["deadline"]
    control(world, "resume")
    resumed = world.now
    assert record(world)["deadline"] == pytest.approx(deadline + 1000)
    assert "seconds left" in record(world)["events"][-1]["message"]
    while walk.targets(world.state)[0] == 4:
        world.tick(seconds=0.5)
    assert world.now - resumed == pytest.approx(paused["remaining"], abs=0.6)  # the bake went on, no more
    done = world.run()
    assert done.status is E.IN_SERVICE and done.config_name == "new-config"
    kinds = _kinds(done)
    assert kinds.index("Paused") < kinds.index("Resumed") < kinds.index("Baked")


def test_pause_while_a_batch_launches_lets_it_come_up_without_traffic() -> None:
    world = World(_updating(_config(HALF, wait=5)))
    control(world, "pause")  # before the walk's first tick: the first batch's launch step
    assert record(world)[rollouts.PAUSED]["remaining"] is None
    for _ in range(20):
        world.tick(seconds=10)
    assert walk.targets(world.state) == (4, 2)  # the batch at its launch step still comes up...
    assert len(world.state.pending[0].ready) == 2
    assert rollouts.green_weight(world.state) == 0.0  # ...but takes no traffic
    assert world.state.pending[0].statuses[0].message == "Deployment paused. Launching 2 instance(s)."
    control(world, "resume")
    world.tick()
    assert rollouts.green_weight(world.state) == pytest.approx(1 / 3)


def test_pause_after_a_retirement_launches_no_further_batch_beyond_the_one_begun() -> None:
    world = World(_updating(_config(ONE, wait=2)))
    world.until(lambda s: walk.targets(s)[0] == 3)  # one old instance retired, the next batch launching
    control(world, "pause")
    targets = walk.targets(world.state)
    for _ in range(10):
        world.tick(seconds=5)
    assert walk.targets(world.state) == targets == (3, 2)
    assert len(_retired(world.state)) == 1


def test_an_alarm_while_paused_still_rolls_back_and_then_no_control_applies() -> None:
    config = _config(ONE, wait=60, rollback=ONE)
    world = World(_updating(config))
    world.until(lambda s: walk.targets(s)[0] == 3)
    baking(world)
    control(world, "pause")
    world.alarm = "ALARM"
    state = world.tick()
    assert state.status is E.UPDATING and rollouts.PAUSED not in record(world)
    assert rollouts.green_weight(state) == 0.0 and walk.targets(state)[0] == 4
    for action, why in (("pause", "already rolling back"), ("resume", "already rolling back")):
        with pytest.raises(ControlRefused, match=why):
            control(world, action)
    with pytest.raises(ControlRefused, match="already rolling back"):
        control(world, "abort")
    done = world.run()
    assert done.status is E.IN_SERVICE and done.config_name == "old-config" and ALARM in done.failure_reason


def test_promote_skips_every_bake_but_keeps_the_batches() -> None:
    config = _config(HALF, wait=600)
    plain = World(_updating(config))
    plain.run(limit=2000, seconds=100)
    world = World(_updating(config))
    baking(world)
    control(world, "promote", "ship it")
    assert record(world)["events"][-1]["kind"] == "PromoteRequested"
    done = world.run(limit=10)
    assert done.status is E.IN_SERVICE and done.config_name == "new-config"
    assert world.now - T0 < 20  # two 600 s bakes skipped
    # The same batches, in the same order: capacity never dropped below the rolling plan's.
    distinct = [t for i, t in enumerate(world.targets) if i == 0 or t != world.targets[i - 1]]
    planned = [t for i, t in enumerate(plain.targets) if i == 0 or t != plain.targets[i - 1]]
    assert distinct == planned
    history = done.extra[rollouts.HISTORY][-1]
    assert history["outcome"] == "Completed" and "promoted by" in history["reason"]
    kinds = _kinds(done)
    promoted = kinds.index("Promoted")
    assert "Baked" not in kinds[promoted:] and kinds.count("Promoted") == 1
    assert kinds[promoted:].count("BatchRetired") == 2
    message = history["events"][promoted]["message"]
    assert "2 remaining bake(s) skipped; 1 remaining batch(es)" in message, message


def test_promote_resumes_a_paused_update() -> None:
    world = World(_updating(_config(HALF, wait=600)))
    baking(world)
    control(world, "pause")
    control(world, "promote")
    assert rollouts.PAUSED not in record(world)
    assert world.run(limit=10).config_name == "new-config"


def test_abort_rolls_back_in_rollback_batches_naming_the_operator() -> None:
    world = World(_updating(_config(ONE, wait=30, rollback=ONE)))
    world.until(lambda s: walk.targets(s)[0] == 2)
    baking(world)
    control(world, "abort", "wrong model")
    assert "RollbackMaximumBatchSize" in record(world)["events"][-1]["message"]
    state = world.tick()
    assert state.status is E.UPDATING and rollouts.green_weight(state) == 0.0
    assert walk.targets(state)[0] == 3  # one old instance per rollback batch
    done = world.run()
    assert done.status is E.IN_SERVICE and done.config_name == "old-config"
    assert len(done.fleet[0].ready) == 4
    assert done.failure_reason.startswith(f"Deployment was aborted by {ME} at ")
    assert done.failure_reason.endswith("Reason: wrong model")
    kinds = _kinds(done)
    assert kinds[kinds.index("AbortRequested") :] == [
        "AbortRequested",
        "Aborted",
        "TrafficRolledBack",
        "OldCapacityRestored",
        "OldCapacityRestored",
        "RolledBack",
    ]
    assert done.extra[rollouts.HISTORY][-1]["reason"] == done.failure_reason


def test_abort_wins_over_a_pause_and_a_promote() -> None:
    world = World(_updating(_config(HALF, wait=30)))
    baking(world)
    control(world, "promote")
    control(world, "abort")
    with pytest.raises(ControlRefused, match="already being aborted"):
        control(world, "pause")
    done = world.run()
    assert done.config_name == "old-config" and "aborted by" in done.failure_reason


def test_abort_before_the_walk_began_ends_the_update_at_once() -> None:
    state = _updating(_config(HALF))
    unsized = EndpointState.from_json(state.to_json())
    deployment = dict(unsized.extra[rollouts.DEPLOYMENT])
    deployment.pop("rolling")
    unsized = replace(unsized, pending=(), extra={**unsized.extra, rollouts.DEPLOYMENT: deployment})
    assert walk.abort_before_begin(unsized, T0) is None
    aborted = request(unsized, "abort", ME, T0)
    done = walk.abort_before_begin(aborted, T0 + 1)
    assert done is not None and done.status is E.IN_SERVICE and done.config_name == "old-config"
    assert done.failure_reason.startswith(f"Deployment was aborted by {ME}")
    assert [e["kind"] for e in done.extra[rollouts.HISTORY][-1]["events"]][-2:] == ["Aborted", "RolledBack"]


def test_a_timeout_after_a_pause_names_the_configured_limit() -> None:
    world = World(_updating(_config(ONE, wait=300, timeout=600)))
    baking(world)
    control(world, "pause")
    world.tick(seconds=1000)
    control(world, "resume")
    assert world.state.status is E.UPDATING
    done = world.tick(seconds=600)
    assert "MaximumExecutionTimeoutInSeconds (600 seconds)" in done.failure_reason


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [("pause", "pause", "already paused"), (None, "resume", "not paused"), ("promote", "pause", "promoted")],
)
def test_controls_that_would_change_nothing_are_refused(first: str | None, second: str, why: str) -> None:
    world = World(_updating(_config(HALF, wait=30)))
    baking(world)
    if first:
        control(world, first)
    with pytest.raises(ControlRefused, match=why):
        control(world, second)
