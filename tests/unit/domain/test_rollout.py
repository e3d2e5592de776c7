"""Rollout plans: all modes at 1, 3, 4 and 10 instances, rounding, weights, messages, rollback, stickiness."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sagemill.domain.endpoints import VariantStatusName
from sagemill.domain.rollout import (
    Step,
    capacity_instances,
    plan_blue_green,
    plan_deployment,
    plan_rolling,
    rollback_batches,
    routes_to_green,
    sticky_bucket,
    total_wait_seconds,
)

COUNTS = (1, 3, 4, 10)


def _size(kind: str, value: int) -> dict[str, Any]:
    return {"Type": kind, "Value": value}


def _bg(
    kind: str = "ALL_AT_ONCE", wait: int = 0, termination: int | None = None, **sizes: Any
) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "TrafficRoutingConfiguration": {"Type": kind, "WaitIntervalInSeconds": wait, **sizes}
    }
    if termination is not None:
        policy["TerminationWaitInSeconds"] = termination
    return {"BlueGreenUpdatePolicy": policy}


def _canary(kind: str, value: int, wait: int = 60, termination: int = 120) -> dict[str, Any]:
    return _bg("CANARY", wait, termination, CanarySize=_size(kind, value))


def _linear(kind: str, value: int, wait: int = 60, termination: int = 120) -> dict[str, Any]:
    return _bg("LINEAR", wait, termination, LinearStepSize=_size(kind, value))


def _rolling(kind: str, value: int, wait: int = 30, rollback: dict[str, Any] | None = None) -> dict[str, Any]:
    policy: dict[str, Any] = {"MaximumBatchSize": _size(kind, value), "WaitIntervalInSeconds": wait}
    if rollback is not None:
        policy["RollbackMaximumBatchSize"] = rollback
    return {"RollingUpdatePolicy": policy}


def _kinds(plan: tuple[Step, ...]) -> list[str]:
    return [step.kind for step in plan]


def _weights(plan: tuple[Step, ...]) -> list[float]:
    return [step.green_weight for step in plan]


@pytest.mark.parametrize(
    ("kind", "value", "total", "expected"),
    [
        ("INSTANCE_COUNT", 1, 3, 1),
        ("INSTANCE_COUNT", 2, 3, 2),
        ("INSTANCE_COUNT", 5, 3, 3),  # capped at the fleet
        ("CAPACITY_PERCENT", 33, 3, 1),  # the notebook's "33% * 3 = 1 instance"
        ("CAPACITY_PERCENT", 34, 3, 2),  # 1.02 rounds up
        ("CAPACITY_PERCENT", 25, 10, 3),  # 2.5 rounds up
        ("CAPACITY_PERCENT", 20, 10, 2),  # exact stays exact
        ("CAPACITY_PERCENT", 50, 4, 2),
        ("CAPACITY_PERCENT", 50, 1, 1),
        ("CAPACITY_PERCENT", 1, 10, 1),  # at least one
        ("CAPACITY_PERCENT", 100, 10, 10),
        ("CAPACITY_PERCENT", 100, 0, 0),  # no fleet, no instances
    ],
)
def test_capacity_instances(kind: str, value: int, total: int, expected: int) -> None:
    assert capacity_instances(_size(kind, value), total) == expected


def test_capacity_instances_refuses_an_unknown_type() -> None:
    with pytest.raises(ValueError, match="CapacitySize"):
        capacity_instances(_size("COPY_COUNT", 1), 3)


@pytest.mark.parametrize("n", COUNTS)
def test_no_config_is_all_at_once_without_bake(n: int) -> None:
    plan = plan_blue_green(None, n)
    assert plan == (
        Step("provision", 0, n, 0.0, 0, "Creating", f"Launching {n} instance(s).", n, n),
        Step(
            "shift",
            n,
            0,
            1.0,
            0,
            "ActivatingTraffic",
            f"Activating traffic on full capacity of {n} instance(s).",
            n,
            n,
        ),
        Step("retire", n, 0, 1.0, 0, "Deleting", f"Terminating {n} instance(s).", n, 0),
    )
    assert total_wait_seconds(plan) == 0


@pytest.mark.parametrize("n", COUNTS)
def test_all_at_once_bakes_the_termination_wait(n: int) -> None:
    plan = plan_blue_green(_bg(wait=999, termination=600), n)
    assert _kinds(plan) == ["provision", "shift", "final_bake", "retire"]
    assert plan[2] == Step(
        "final_bake",
        n,
        0,
        1.0,
        600,
        "Baking",
        f"Baking for 600 seconds (TerminationWaitInSeconds)"
        f" with traffic enabled on full capacity of {n} instance(s).",
        n,
        n,
    )
    assert total_wait_seconds(plan) == 600  # the interval is never waited all at once


def test_an_empty_config_still_checks_alarms_once_at_full_traffic() -> None:
    plan = plan_blue_green({}, 2)
    assert _kinds(plan) == ["provision", "shift", "final_bake", "retire"] and plan[2].wait_seconds == 0


def test_canary_of_one_instance_in_three_takes_a_quarter() -> None:
    plan = plan_blue_green(_canary("INSTANCE_COUNT", 1, wait=300, termination=600), 3)
    assert plan == (
        Step("provision", 0, 3, 0.0, 0, "Creating", "Launching 3 instance(s).", 3, 3),
        Step(
            "shift",
            1,
            3,
            0.25,
            0,
            "ActivatingTraffic",
            "Activating traffic on canary capacity of 1 instance(s).",
            3,
            3,
        ),
        Step(
            "bake",
            1,
            3,
            0.25,
            300,
            "Baking",
            "Baking for 300 seconds (WaitIntervalInSeconds)"
            " with traffic enabled on canary capacity of 1 instance(s).",
            3,
            3,
        ),
        Step(
            "shift",
            3,
            0,
            1.0,
            0,
            "ActivatingTraffic",
            "Activating traffic on full capacity of 3 instance(s).",
            3,
            3,
        ),
        Step(
            "final_bake",
            3,
            0,
            1.0,
            600,
            "Baking",
            "Baking for 600 seconds (TerminationWaitInSeconds)"
            " with traffic enabled on full capacity of 3 instance(s).",
            3,
            3,
        ),
        Step("retire", 3, 0, 1.0, 0, "Deleting", "Terminating 3 instance(s).", 3, 0),
    )
    assert total_wait_seconds(plan) == 900


@pytest.mark.parametrize(
    ("n", "percent", "canary", "weight"),
    [(1, 50, 1, 1 / 2), (3, 20, 1, 1 / 4), (4, 50, 2, 2 / 6), (10, 25, 3, 3 / 13), (10, 5, 1, 1 / 11)],
)
def test_canary_percent_rounds_up_and_keeps_blue_fully_active(
    n: int, percent: int, canary: int, weight: float
) -> None:
    plan = plan_blue_green(_canary("CAPACITY_PERCENT", percent), n)
    assert _kinds(plan) == ["provision", "shift", "bake", "shift", "final_bake", "retire"]
    assert (plan[1].green_instances, plan[1].blue_instances) == (canary, n)
    assert plan[1].green_weight == pytest.approx(weight)
    assert plan[1].message == f"Activating traffic on canary capacity of {canary} instance(s)."


@pytest.mark.parametrize(
    ("n", "size", "greens"),
    [
        (1, _size("CAPACITY_PERCENT", 50), []),  # one step: straight to full
        (3, _size("CAPACITY_PERCENT", 33), [1, 2]),
        (3, _size("INSTANCE_COUNT", 1), [1, 2]),
        (4, _size("CAPACITY_PERCENT", 25), [1, 2, 3]),
        (4, _size("INSTANCE_COUNT", 2), [2]),
        (10, _size("CAPACITY_PERCENT", 10), [1, 2, 3, 4, 5, 6, 7, 8, 9]),
        (10, _size("CAPACITY_PERCENT", 33), [4, 8]),  # 3.3 rounds up to 4: the last step is smaller
        (10, _size("INSTANCE_COUNT", 3), [3, 6, 9]),
    ],
)
def test_linear_steps_deactivate_the_same_portion_of_blue(
    n: int, size: dict[str, Any], greens: list[int]
) -> None:
    plan = plan_blue_green(_bg("LINEAR", 60, 120, LinearStepSize=size), n)
    shifts = [s for s in plan if s.kind == "shift"]
    bakes = [s for s in plan if s.kind == "bake"]
    assert [s.green_instances for s in shifts] == [*greens, n]
    assert [s.blue_instances for s in shifts] == [n - g for g in greens] + [0]
    assert [s.green_weight for s in shifts] == pytest.approx([g / n for g in greens] + [1.0])
    assert [(s.green_instances, s.wait_seconds) for s in bakes] == [(g, 60) for g in greens]
    assert total_wait_seconds(plan) == 60 * len(greens) + 120
    total = len(greens) + 1
    for index, (shift, bake) in enumerate(zip(shifts, bakes, strict=False), start=1):
        g = shift.green_instances
        assert (
            shift.message
            == f"Activating traffic on linear step {index} of {total}, capacity of {g} instance(s)."
        )
        assert bake.message == (
            f"Baking for 60 seconds (WaitIntervalInSeconds)"
            f" with traffic enabled on linear capacity of {g} instance(s)."
        )


def test_linear_with_a_smaller_old_fleet_rounds_blue_up() -> None:
    plan = plan_blue_green(_linear("INSTANCE_COUNT", 1), 4, old_count=2)
    shifts = [s for s in plan if s.kind == "shift"]
    assert [(s.green_instances, s.blue_instances) for s in shifts] == [(1, 2), (2, 1), (3, 1), (4, 0)]
    assert plan[-1].message == "Terminating 2 instance(s)." and plan[0].blue_provisioned == 2


def _blue_green_configs() -> list[dict[str, Any] | None]:
    return [
        None,
        _bg(termination=30),
        _canary("INSTANCE_COUNT", 1),
        _canary("CAPACITY_PERCENT", 50),
        _linear("CAPACITY_PERCENT", 10),
        _linear("CAPACITY_PERCENT", 33),
        _linear("INSTANCE_COUNT", 1),
    ]


@pytest.mark.parametrize("config", _blue_green_configs())
@pytest.mark.parametrize("n", COUNTS)
@pytest.mark.parametrize("old", [None, 1, 5])
def test_blue_green_invariants(config: dict[str, Any] | None, n: int, old: int | None) -> None:
    plan = plan_blue_green(config, n, old)
    _check_invariants(plan)
    b = n if old is None else old
    assert plan[0].kind == "provision" and plan[0].green_provisioned == n and plan[0].blue_instances == b
    assert plan[-1].kind == "retire" and plan[-1].blue_provisioned == 0
    # Blue stays warm (running) until the very last step, so a rollback is one routing change.
    assert all(s.blue_provisioned == b for s in plan[:-1])
    assert all(s.green_provisioned == n for s in plan)


@pytest.mark.parametrize("n", COUNTS)
@pytest.mark.parametrize("old", [1, 3, 4, 10])
@pytest.mark.parametrize(
    "size", [_size("INSTANCE_COUNT", 1), _size("CAPACITY_PERCENT", 33), _size("INSTANCE_COUNT", 2)]
)
def test_rolling_invariants(n: int, old: int, size: dict[str, Any]) -> None:
    plan = plan_rolling(
        {"RollingUpdatePolicy": {"MaximumBatchSize": size, "WaitIntervalInSeconds": 30}}, old, n
    )
    _check_invariants(plan)
    k = capacity_instances(size, n)
    assert plan[-1].green_instances == n and plan[-1].blue_provisioned == 0
    launched = [int(s.message.split()[1]) for s in plan if s.kind == "provision_batch"]
    retired = [int(s.message.split()[1]) for s in plan if s.kind == "retire_batch"]
    assert sum(launched) == n and all(x <= k for x in launched) and launched[:-1] == [k] * (len(launched) - 1)
    assert sum(retired) == old and all(x <= k for x in retired)
    assert total_wait_seconds(plan) == 30 * math.ceil(n / k)


def _check_invariants(plan: tuple[Step, ...]) -> None:
    weights = _weights(plan)
    assert weights[0] < 1.0 and weights[-1] == 1.0
    assert weights == sorted(weights), "traffic never moves back to the old fleet"
    statuses = {s.value for s in VariantStatusName}
    for step in plan:
        assert step.status in statuses and type(step.status) is str
        assert 0 <= step.green_instances <= step.green_provisioned
        assert 0 <= step.blue_instances <= step.blue_provisioned
        assert step.wait_seconds == 0 or step.kind in ("bake", "final_bake")
        expected = step.green_instances / (step.green_instances + step.blue_instances)
        assert step.green_weight == pytest.approx(expected)
        assert (
            step.status
            == {
                "provision": "Creating",
                "provision_batch": "Creating",
                "shift": "ActivatingTraffic",
                "shift_batch": "ActivatingTraffic",
                "bake": "Baking",
                "final_bake": "Baking",
                "retire": "Deleting",
                "retire_batch": "Deleting",
            }[step.kind]
        )


def test_rolling_three_by_a_third() -> None:
    plan = plan_rolling(_rolling("CAPACITY_PERCENT", 33, wait=45), 3, 3)
    assert _kinds(plan) == ["provision_batch", "shift_batch", "bake", "retire_batch"] * 3
    first = plan[:4]
    assert first == (
        Step("provision_batch", 0, 3, 0.0, 0, "Creating", "Launching 1 instance(s).", 1, 3),
        Step(
            "shift_batch",
            1,
            3,
            0.25,
            0,
            "ActivatingTraffic",
            "Activating traffic on batch capacity of 1 instance(s).",
            1,
            3,
        ),
        Step(
            "bake",
            1,
            3,
            0.25,
            45,
            "Baking",
            "Baking for 45 seconds (WaitIntervalInSeconds)"
            " with traffic enabled on new capacity of 1 instance(s).",
            1,
            3,
        ),
        Step("retire_batch", 1, 2, 1 / 3, 0, "Deleting", "Terminating 1 instance(s).", 1, 2),
    )
    assert _weights(plan) == pytest.approx(
        [0, 1 / 4, 1 / 4, 1 / 3, 1 / 3, 1 / 2, 1 / 2, 2 / 3, 2 / 3, 3 / 4, 3 / 4, 1]
    )
    assert total_wait_seconds(plan) == 135


def test_rolling_ten_by_a_quarter_has_a_smaller_last_batch() -> None:
    plan = plan_rolling(_rolling("CAPACITY_PERCENT", 25), 10, 10)
    launches = [s.message for s in plan if s.kind == "provision_batch"]
    assert launches == ["Launching 3 instance(s)."] * 3 + ["Launching 1 instance(s)."]
    assert [s.blue_provisioned for s in plan if s.kind == "retire_batch"] == [7, 4, 1, 0]


def test_rolling_to_a_smaller_fleet_retires_the_rest_without_baking() -> None:
    plan = plan_rolling(_rolling("INSTANCE_COUNT", 1), 4, 2)
    assert (
        _kinds(plan) == ["provision_batch", "shift_batch", "bake", "retire_batch"] * 2 + ["retire_batch"] * 2
    )
    assert [s.blue_instances for s in plan[-2:]] == [1, 0]


def test_rolling_to_a_larger_fleet_stops_retiring_once_blue_is_gone() -> None:
    plan = plan_rolling(_rolling("INSTANCE_COUNT", 1), 1, 3)
    assert (
        _kinds(plan)
        == ["provision_batch", "shift_batch", "bake", "retire_batch"]
        + [
            "provision_batch",
            "shift_batch",
            "bake",
        ]
        * 2
    )


def test_rolling_of_one_instance() -> None:
    plan = plan_rolling(_rolling("CAPACITY_PERCENT", 50), 1, 1)
    assert _kinds(plan) == ["provision_batch", "shift_batch", "bake", "retire_batch"]
    assert _weights(plan) == [0.0, 0.5, 0.5, 1.0]


def test_plan_deployment_picks_the_policy() -> None:
    rolling = _rolling("INSTANCE_COUNT", 1)
    assert plan_deployment(rolling, 2, 2) == plan_rolling(rolling, 2, 2)
    canary = _canary("INSTANCE_COUNT", 1)
    assert plan_deployment(canary, 2, 3) == plan_blue_green(canary, 3, 2)
    assert plan_deployment(None, 3, 3) == plan_blue_green(None, 3)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: plan_blue_green(None, 0), "at least one"),
        (lambda: plan_blue_green(_bg("CANARY"), 3), "CanarySize"),
        (lambda: plan_blue_green(_bg("LINEAR"), 3), "LinearStepSize"),
        (lambda: plan_blue_green(_bg("BOGUS"), 3), "Type"),
        (lambda: plan_rolling({}, 3, 3), "RollingUpdatePolicy"),
        (lambda: plan_rolling(_rolling("INSTANCE_COUNT", 1), 3, 0), "at least one"),
    ],
)
def test_plans_refuse_what_validation_refuses(call: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    ("config", "restore", "total", "batches"),
    [
        (None, 3, None, (3,)),
        (_canary("INSTANCE_COUNT", 1), 3, None, (3,)),  # blue/green rolls back in one step
        (_rolling("INSTANCE_COUNT", 1), 4, None, (4,)),  # default: 100% at once
        (_rolling("INSTANCE_COUNT", 1, rollback=_size("INSTANCE_COUNT", 2)), 5, None, (2, 2, 1)),
        (_rolling("INSTANCE_COUNT", 1, rollback=_size("INSTANCE_COUNT", 9)), 5, None, (5,)),
        (_rolling("INSTANCE_COUNT", 1, rollback=_size("CAPACITY_PERCENT", 50)), 3, 4, (2, 1)),
        (_rolling("INSTANCE_COUNT", 1, rollback=_size("CAPACITY_PERCENT", 33)), 10, None, (4, 4, 2)),
        (_rolling("INSTANCE_COUNT", 1, rollback=_size("CAPACITY_PERCENT", 100)), 10, None, (10,)),
        (_rolling("INSTANCE_COUNT", 1, rollback=_size("INSTANCE_COUNT", 1)), 1, None, (1,)),
        (_rolling("INSTANCE_COUNT", 1, rollback=_size("INSTANCE_COUNT", 1)), 0, None, ()),
        (None, 0, None, ()),
    ],
)
def test_rollback_batches(
    config: dict[str, Any] | None, restore: int, total: int | None, batches: tuple[int, ...]
) -> None:
    assert rollback_batches(config, restore, total) == batches


def test_sticky_bucket_is_stable_and_in_range() -> None:
    # Pinned: a change here would move live sessions between fleets across an upgrade.
    assert sticky_bucket("session-1") == sticky_bucket("session-1")
    assert sticky_bucket("session-1") == pytest.approx(0.6808126673171411, abs=0)
    buckets = [sticky_bucket(f"k{i}") for i in range(1000)]
    assert all(0.0 <= b < 1.0 for b in buckets) and len(set(buckets)) == 1000
    assert sticky_bucket("") < 1.0


KEYS = [f"inference-{i}" for i in range(10_000)]


def test_sticky_split_is_within_two_points_and_green_stays_green() -> None:
    weights = [0.0, 0.05, 0.1, 0.25, 1 / 3, 0.5, 2 / 3, 0.75, 0.9, 1.0]
    buckets = [sticky_bucket(k) for k in KEYS]
    previous: set[int] = set()
    for weight in weights:
        on_green = {i for i, key in enumerate(KEYS) if routes_to_green(key, weight)}
        assert on_green == {i for i, b in enumerate(buckets) if b < weight}
        assert abs(len(on_green) / len(KEYS) - weight) <= 0.02
        assert previous <= on_green, "a key on green must stay on green as the weight grows"
        previous = on_green
    assert len(previous) == len(KEYS)
    assert not any(routes_to_green(k, 0.0) for k in KEYS[:100])
