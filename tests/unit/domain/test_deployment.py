"""The blue/green walk with operators' controls: pause keeps the remaining bake, promote, abort; events."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sagemill.domain import deployment as rollouts
from sagemill.domain.deployment_controls import ControlRefused, request
from sagemill.domain.endpoints import EndpointState, EndpointStatus, Variant
from sagemill.testing.variants import variant

E = EndpointStatus
T0 = 1000.0
ALARMS = ["ep-errors", "ep-latency"]
ME = "arn:aws:iam::111122223333:root"


def _variant(model: str, count: int) -> Variant:
    return variant(model, count, started_at=T0 - 100, deployed_at=T0)


def _config(kind: str = "CANARY", wait: int = 300, termination: int = 60, timeout: int | None = 1200) -> Any:
    routing: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": wait}
    if kind == "CANARY":
        routing["CanarySize"] = {"Type": "INSTANCE_COUNT", "Value": 1}
    if kind == "LINEAR":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": 50}
    policy: dict[str, Any] = {"TrafficRoutingConfiguration": routing, "TerminationWaitInSeconds": termination}
    if timeout is not None:
        policy["MaximumExecutionTimeoutInSeconds"] = timeout
    return {
        "BlueGreenUpdatePolicy": policy,
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": n} for n in ALARMS]},
    }


class World:
    """What the reconciler does with a healthy green fleet: advance each tick, persist, finish."""

    def __init__(self, config: Any, alarm: str = "OK") -> None:
        self.now = T0
        self.alarm = alarm
        self.outcome: rollouts.Outcome | None = None
        self.state = EndpointState(
            status=E.UPDATING,
            config_name="old-config",
            fleet=(_variant("old", 4),),
            pending_config="new-config",
            pending=(_variant("new", 4),),
            pending_since=T0,
            extra={rollouts.DEPLOYMENT: rollouts.start(config, T0)},
        )

    def alarms(self, names: list[str]) -> dict[str, str]:
        return {n: self.alarm for n in names}

    def tick(self, seconds: float = 1.0) -> rollouts.Outcome:
        self.now += seconds
        state, outcome = rollouts.advance(self.state, self.now, self.alarms)
        if outcome.action is not None:
            kind = "Completed" if outcome.action == "promote" else "RolledBack"
            state = rollouts.finish(state, kind, "" if kind == "Completed" else outcome.reason, self.now)
            state = replace(state, status=E.IN_SERVICE, pending=(), pending_config="")
            self.outcome = outcome
        self.state = EndpointState.from_json(state.to_json())
        return outcome

    def control(self, action: str, note: str = "") -> None:
        self.state = EndpointState.from_json(request(self.state, action, ME, self.now, note).to_json())

    def run(self, limit: int = 5000, seconds: float = 1.0) -> rollouts.Outcome:
        for _ in range(limit):
            outcome = self.tick(seconds)
            if outcome.action is not None:
                return outcome
        raise AssertionError("the deployment did not end")

    @property
    def deployment(self) -> dict[str, Any]:
        return dict(self.state.extra[rollouts.DEPLOYMENT])

    def kinds(self) -> list[str]:
        record = self.state.extra.get(rollouts.DEPLOYMENT) or self.state.extra[rollouts.HISTORY][-1]
        return [e["kind"] for e in record["events"]]

    def events(self, kind: str) -> list[dict[str, Any]]:
        record = self.state.extra.get(rollouts.DEPLOYMENT) or self.state.extra[rollouts.HISTORY][-1]
        return [e for e in record["events"] if e["kind"] == kind]


def test_canary_timeline_explains_every_step() -> None:
    world = World(_config())
    assert world.run().action == "promote"
    assert world.now == pytest.approx(T0 + 1 + 300 + 60)
    assert world.kinds() == [
        "Started",
        "Provisioned",
        "TrafficShifted",
        "BakeStarted",
        "Baked",
        "TrafficShifted",
        "BakeStarted",
        "Baked",
        "Retiring",
        "Completed",
    ]
    assert "CANARY" in world.events("Started")[0]["message"]
    assert [e["green_weight"] for e in world.events("TrafficShifted")] == [0.2, 1.0]
    assert "20%" in world.events("TrafficShifted")[0]["message"]
    baked = world.events("Baked")[0]
    assert baked["alarms"] == {"ep-errors": "OK", "ep-latency": "OK"}
    assert "alarms ep-errors=OK, ep-latency=OK at end of bake" in baked["message"]
    assert "300 seconds" in world.events("BakeStarted")[0]["message"]
    history = world.state.extra[rollouts.HISTORY][-1]
    assert (history["endpoint_config"], history["previous_config"]) == ("new-config", "old-config")
    assert "serves all traffic" in history["reason"]


def test_alarm_rollback_records_the_deciding_states() -> None:
    world = World(_config())
    world.tick()
    world.alarm = "ALARM"
    outcome = world.tick()
    assert outcome.action == "rollback" and "ep-errors, ep-latency" in outcome.reason
    tripped = world.events("AlarmTripped")[0]
    assert tripped["alarms"] == {"ep-errors": "ALARM", "ep-latency": "ALARM"}
    assert "ep-errors=ALARM" in tripped["message"]


def test_pause_holds_the_bake_and_resume_keeps_the_remaining_wait() -> None:
    world = World(_config())
    world.tick()  # provisioned, canary shifted, bake of 300 s started at T0 + 1
    for _ in range(100):
        world.tick()
    world.control("pause", "checking dashboards")
    paused = world.deployment[rollouts.PAUSED]
    assert paused["remaining"] == pytest.approx(200.0) and paused["by"] == ME
    assert "200 seconds of the bake left" in world.events("Paused")[0]["message"]
    assert "checking dashboards" in world.events("Paused")[0]["message"]
    step = world.deployment["step"]
    for _ in range(20):
        assert world.tick(seconds=60).action is None  # 20 minutes: past the bake and the 1200 s deadline
    assert world.deployment["step"] == step and world.deployment["green_weight"] == 0.2
    assert world.state.pending[0].statuses[0].message.startswith("Deployment paused with 200 of 300 seconds")
    resumed_at = world.now
    world.control("resume")
    assert "200 seconds left" in world.events("Resumed")[0]["message"]
    assert world.deployment["deadline"] == pytest.approx(T0 + 1200 + 1200)
    world.tick(seconds=199)
    assert world.deployment["step"] == step  # one second of the bake still to go
    world.tick(seconds=1)
    assert world.deployment["step"] > step and world.deployment["green_weight"] == 1.0
    assert world.run().action == "promote"
    assert world.now == pytest.approx(resumed_at + 200 + 60)
    assert world.state.extra[rollouts.HISTORY][-1]["paused_seconds"] == pytest.approx(1200.0)


def test_pause_still_rolls_back_on_alarm() -> None:
    world = World(_config())
    world.tick()
    world.control("pause")
    world.alarm = "ALARM"
    assert world.tick().action == "rollback"


def test_promote_skips_the_remaining_steps() -> None:
    world = World(_config(kind="LINEAR", wait=600, termination=600, timeout=None))
    world.tick()
    assert world.deployment["green_weight"] == 0.5
    world.control("promote")
    outcome = world.tick()
    assert outcome.action == "promote"
    history = world.state.extra[rollouts.HISTORY][-1]
    assert history["green_weight"] == 1.0
    promoted = world.events("Promoted")[0]
    assert promoted["by"] == ME and "3 remaining shift and bake step(s) skipped" in promoted["message"]
    assert world.kinds()[-4:] == ["PromoteRequested", "Promoted", "Retiring", "Completed"]
    assert history["reason"] == f"Deployment completed early: promoted by {ME}."


def test_promote_resumes_a_paused_deployment() -> None:
    world = World(_config())
    world.tick()
    world.control("pause")
    world.control("promote")
    assert rollouts.PAUSED not in world.deployment
    assert world.tick().action == "promote"


def test_abort_rolls_back_with_the_principal_in_the_reason() -> None:
    world = World(_config())
    world.tick()
    world.control("abort", "wrong model")
    outcome = world.tick()
    assert outcome.action == "rollback"
    assert outcome.reason.startswith(f"Deployment was aborted by {ME} at 1970-01-01T00:16:41Z")
    assert outcome.reason.endswith("Reason: wrong model")
    assert world.kinds()[-3:] == ["AbortRequested", "Aborted", "RolledBack"]


def test_abort_works_while_the_new_fleet_is_provisioning() -> None:
    world = World(_config())
    world.control("abort")
    state, outcome = rollouts.check_guards(world.state, T0 + 1, world.alarms)
    assert outcome.action == "rollback" and "aborted" in outcome.reason
    assert state.extra[rollouts.DEPLOYMENT]["events"][-1]["kind"] == "Aborted"


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [
        ("pause", "pause", "already paused"),
        (None, "resume", "not paused"),
        ("promote", "promote", "already being promoted"),
        ("promote", "pause", "already being promoted"),
        ("abort", "abort", "already being aborted"),
        ("abort", "promote", "already being aborted"),
    ],
)
def test_controls_that_would_change_nothing_are_refused(first: str | None, second: str, why: str) -> None:
    world = World(_config())
    world.tick()
    if first:
        world.control(first)
    with pytest.raises(ControlRefused, match=why):
        world.control(second)


def test_controls_need_a_deployment_in_progress() -> None:
    idle = EndpointState(status=E.IN_SERVICE, config_name="c")
    with pytest.raises(ControlRefused, match="no deployment in progress"):
        request(idle, "pause", ME, T0)
    rolling = {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}}}
    state = replace(idle, status=E.UPDATING, extra={rollouts.DEPLOYMENT: rollouts.start(rolling, T0)})
    assert request(state, "abort", ME, T0).extra[rollouts.DEPLOYMENT][rollouts.ABORT]["by"] == ME
    with pytest.raises(ControlRefused, match="unknown action"):
        request(World(_config()).state, "explode", ME, T0)


def test_pause_before_any_shift_holds_traffic_on_the_old_fleet() -> None:
    world = World(_config())
    world.control("pause")
    assert world.deployment[rollouts.PAUSED]["remaining"] is None
    for _ in range(5):
        world.tick(seconds=600)
    assert world.deployment["step"] == 0 and world.deployment["green_weight"] == 0.0
    world.control("resume")
    world.tick()
    assert world.deployment["green_weight"] == 0.2


def test_a_zero_second_bake_in_the_first_tick_still_checks_the_alarms() -> None:
    ok = World(_config(kind="ALL_AT_ONCE", wait=0, termination=0), alarm="OK")
    assert ok.tick().action == "promote"
    assert ok.events("Baked")[0]["alarms"] == {"ep-errors": "OK", "ep-latency": "OK"}
    firing = World(_config(kind="ALL_AT_ONCE", wait=0, termination=0), alarm="ALARM")
    outcome = firing.tick()
    assert outcome.action == "rollback" and "ep-errors, ep-latency" in outcome.reason
    assert firing.kinds()[-3:] == ["BakeStarted", "AlarmTripped", "RolledBack"]
