"""DeploymentConfig checks: every model range edge, every cross-field rule, message wording, retention."""

from __future__ import annotations

from typing import Any

import pytest

from sagemill.domain.deployment_config import (
    DeploymentConfigError,
    check_deployment_config,
    effective_deployment_config,
)

BG = "deploymentConfig.blueGreenUpdatePolicy"
TR = f"{BG}.trafficRoutingConfiguration"
RU = "deploymentConfig.rollingUpdatePolicy"
AL = "deploymentConfig.autoRollbackConfiguration.alarms"


def _size(kind: str, value: Any) -> dict[str, Any]:
    return {"Type": kind, "Value": value}


def _bg(kind: str = "ALL_AT_ONCE", wait: Any = 0, **policy: Any) -> dict[str, Any]:
    routing: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": wait}
    for name in ("CanarySize", "LinearStepSize"):
        if name in policy:
            routing[name] = policy.pop(name)
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing, **policy}}


def _canary(kind: str = "INSTANCE_COUNT", value: Any = 1, **policy: Any) -> dict[str, Any]:
    return _bg("CANARY", policy.pop("wait", 0), CanarySize=_size(kind, value), **policy)


def _linear(kind: str = "CAPACITY_PERCENT", value: Any = 33, **policy: Any) -> dict[str, Any]:
    return _bg("LINEAR", policy.pop("wait", 0), LinearStepSize=_size(kind, value), **policy)


def _rolling(kind: str = "CAPACITY_PERCENT", value: Any = 50, wait: Any = 0, **policy: Any) -> dict[str, Any]:
    return {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": _size(kind, value),
            "WaitIntervalInSeconds": wait,
            **policy,
        }
    }


def _alarms(*names: Any) -> dict[str, Any]:
    return {"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": n} for n in names]}}


def _refusal(config: Any, counts: dict[str, int] | None = None) -> DeploymentConfigError:
    with pytest.raises(DeploymentConfigError) as caught:
        check_deployment_config(config, counts)
    return caught.value


def _one(value: str, path: str, constraint: str) -> str:
    return (
        f"1 validation error detected: Value {value} at '{path}' failed to satisfy constraint: {constraint}"
    )


GE = "Member must have value greater than or equal to {}"
LE = "Member must have value less than or equal to {}"


@pytest.mark.parametrize(
    "config",
    [
        {},
        _bg(),
        _bg(TerminationWaitInSeconds=0),
        _canary(wait=600, TerminationWaitInSeconds=600, MaximumExecutionTimeoutInSeconds=1201),
        _linear(wait=3600),
        _rolling(wait=3600, RollbackMaximumBatchSize=_size("CAPACITY_PERCENT", 100)),
        {**_canary(), **_alarms("errors", "latency")},
        {"AutoRollbackConfiguration": {}},
        _alarms(*(f"a{i}" for i in range(10))),
    ],
)
def test_valid_configs_pass(config: dict[str, Any]) -> None:
    check_deployment_config(config)
    check_deployment_config(config, {"AllTraffic": 4})


@pytest.mark.parametrize(
    ("config", "value", "path", "constraint"),
    [
        (_bg(wait=-1), "'-1'", f"{TR}.waitIntervalInSeconds", GE.format(0)),
        (_bg(wait=3601), "'3601'", f"{TR}.waitIntervalInSeconds", LE.format(3600)),
        (_bg(TerminationWaitInSeconds=-1), "'-1'", f"{BG}.terminationWaitInSeconds", GE.format(0)),
        (_bg(TerminationWaitInSeconds=3601), "'3601'", f"{BG}.terminationWaitInSeconds", LE.format(3600)),
        (
            _bg(MaximumExecutionTimeoutInSeconds=599),
            "'599'",
            f"{BG}.maximumExecutionTimeoutInSeconds",
            GE.format(600),
        ),
        (
            _bg(MaximumExecutionTimeoutInSeconds=28801),
            "'28801'",
            f"{BG}.maximumExecutionTimeoutInSeconds",
            LE.format(28800),
        ),
        (_canary(value=0), "'0'", f"{TR}.canarySize.value", GE.format(1)),
        (_canary("CAPACITY_PERCENT", 101), "'101'", f"{TR}.canarySize.value", LE.format(100)),
        (_linear(value=0), "'0'", f"{TR}.linearStepSize.value", GE.format(1)),
        (_rolling(wait=-1), "'-1'", f"{RU}.waitIntervalInSeconds", GE.format(0)),
        (_rolling(wait=3601), "'3601'", f"{RU}.waitIntervalInSeconds", LE.format(3600)),
        (
            _rolling(MaximumExecutionTimeoutInSeconds=599),
            "'599'",
            f"{RU}.maximumExecutionTimeoutInSeconds",
            GE.format(600),
        ),
        (
            _rolling(MaximumExecutionTimeoutInSeconds=28801),
            "'28801'",
            f"{RU}.maximumExecutionTimeoutInSeconds",
            LE.format(28800),
        ),
        (_rolling(value=0), "'0'", f"{RU}.maximumBatchSize.value", GE.format(1)),
        (
            _rolling(RollbackMaximumBatchSize=_size("CAPACITY_PERCENT", 101)),
            "'101'",
            f"{RU}.rollbackMaximumBatchSize.value",
            LE.format(100),
        ),
        (
            _rolling(RollbackMaximumBatchSize=_size("INSTANCE_COUNT", 0)),
            "'0'",
            f"{RU}.rollbackMaximumBatchSize.value",
            GE.format(1),
        ),
        (
            _bg("BOGUS"),
            "'BOGUS'",
            f"{TR}.type",
            "Member must satisfy enum value set: [ALL_AT_ONCE, CANARY, LINEAR]",
        ),
        (
            _canary("INSTANCES"),
            "'INSTANCES'",
            f"{TR}.canarySize.type",
            "Member must satisfy enum value set: [INSTANCE_COUNT, CAPACITY_PERCENT]",
        ),
        (
            {"AutoRollbackConfiguration": {"Alarms": []}},
            "'[]'",
            AL,
            "Member must have length greater than or equal to 1",
        ),
        (_alarms(*"abcdefghijk"), None, AL, "Member must have length less than or equal to 10"),
        (
            _alarms("x" * 256),
            f"'{'x' * 256}'",
            f"{AL}.1.member.alarmName",
            "Member must have length less than or equal to 255",
        ),
        (
            _alarms("ok", "   "),
            "'   '",
            f"{AL}.2.member.alarmName",
            r"Member must satisfy regular expression pattern: (?!\s*$).+",
        ),
        (
            {"AutoRollbackConfiguration": {"Alarms": [{}]}},
            "null",
            f"{AL}.1.member.alarmName",
            "Member must not be null",
        ),
        (
            {"BlueGreenUpdatePolicy": {}},
            "null",
            f"{BG}.trafficRoutingConfiguration",
            "Member must not be null",
        ),
        (
            {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"WaitIntervalInSeconds": 0}}},
            "null",
            f"{TR}.type",
            "Member must not be null",
        ),
        (_bg(wait=None), "null", f"{TR}.waitIntervalInSeconds", "Member must not be null"),
        (
            _bg("CANARY", CanarySize={"Type": "INSTANCE_COUNT"}),
            "null",
            f"{TR}.canarySize.value",
            "Member must not be null",
        ),
        (
            {"RollingUpdatePolicy": {"WaitIntervalInSeconds": 0}},
            "null",
            f"{RU}.maximumBatchSize",
            "Member must not be null",
        ),
        (_bg(wait=True), "'true'", f"{TR}.waitIntervalInSeconds", "Member must be an integer"),
        (_bg(wait="5"), "'5'", f"{TR}.waitIntervalInSeconds", "Member must be an integer"),
        ({"BlueGreenUpdatePolicy": "x"}, "'x'", BG, "Member must be a structure"),
    ],
)
def test_each_model_constraint_is_worded_as_aws_words_it(
    config: dict[str, Any], value: str | None, path: str, constraint: str
) -> None:
    error = _refusal(config)
    if value is None:  # a long list: only the path and constraint matter
        assert error.message.startswith("1 validation error detected: Value '[")
        assert error.message.endswith(f"at '{path}' failed to satisfy constraint: {constraint}")
    else:
        assert error.message == _one(value, path, constraint)
    assert isinstance(error, ValueError) and str(error) == error.message and len(error.problems) == 1


@pytest.mark.parametrize(
    "config",
    [
        _bg(wait=0),
        _bg(wait=3600, TerminationWaitInSeconds=3600),
        _bg(MaximumExecutionTimeoutInSeconds=600),
        _bg(MaximumExecutionTimeoutInSeconds=28800),
        _canary("CAPACITY_PERCENT", 1),
        _rolling(RollbackMaximumBatchSize=_size("INSTANCE_COUNT", 1000)),
        _alarms("x" * 255, "y"),
    ],
)
def test_range_edges_are_accepted(config: dict[str, Any]) -> None:
    check_deployment_config(config)


def test_model_problems_are_all_counted_but_ten_listed() -> None:
    config = {
        **_bg(wait=5000, TerminationWaitInSeconds=5000),
        **_alarms(*("z" * 256 for _ in range(10))),
    }
    error = _refusal(config)
    assert error.message.startswith("12 validation errors detected: Value '5000' at ")
    assert error.message.count("failed to satisfy constraint") == 10
    assert len(error.problems) == 12 and "; " in error.message


def test_model_constraints_are_reported_before_cross_field_rules() -> None:
    config = {**_bg(wait=5000), **_rolling()}
    assert _refusal(config).message == _one("'5000'", f"{TR}.waitIntervalInSeconds", LE.format(3600))


def test_a_config_that_is_not_a_structure_is_refused() -> None:
    error = _refusal("nope")
    assert error.message == _one("'nope'", "deploymentConfig", "Member must be a structure")


def test_alarms_must_be_a_list_and_names_strings() -> None:
    assert _refusal({"AutoRollbackConfiguration": {"Alarms": "a"}}).message == _one(
        "'a'", AL, "Member must be a list"
    )
    assert _refusal(_alarms(7)).message == _one("'7'", f"{AL}.1.member.alarmName", "Member must be a string")
    error = _refusal(_alarms(""))
    assert len(error.problems) == 2  # too short, and blank by the pattern
    assert error.message.startswith("2 validation errors detected: Value '' at ")


def test_only_one_update_policy() -> None:
    assert _refusal({**_bg(), **_rolling()}).message == (
        "Only one update policy should be used in the deployment configuration: specify either "
        "BlueGreenUpdatePolicy or RollingUpdatePolicy, not both."
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (_bg("CANARY"), "CanarySize must be specified when TrafficRoutingConfiguration Type is CANARY."),
        (_bg("LINEAR"), "LinearStepSize must be specified when TrafficRoutingConfiguration Type is LINEAR."),
        (
            _bg(
                "LINEAR", CanarySize=_size("INSTANCE_COUNT", 1), LinearStepSize=_size("CAPACITY_PERCENT", 20)
            ),
            "CanarySize can only be specified when TrafficRoutingConfiguration Type is CANARY.",
        ),
        (
            _bg(CanarySize=_size("INSTANCE_COUNT", 1)),
            "CanarySize can only be specified when TrafficRoutingConfiguration Type is CANARY.",
        ),
        (
            _bg(
                "CANARY", CanarySize=_size("INSTANCE_COUNT", 1), LinearStepSize=_size("CAPACITY_PERCENT", 20)
            ),
            "LinearStepSize can only be specified when TrafficRoutingConfiguration Type is LINEAR.",
        ),
        (
            _bg(LinearStepSize=_size("CAPACITY_PERCENT", 20)),
            "LinearStepSize can only be specified when TrafficRoutingConfiguration Type is LINEAR.",
        ),
    ],
)
def test_sizes_belong_to_their_mode(config: dict[str, Any], message: str) -> None:
    assert _refusal(config).message == message


CANARY_RULE = "CanarySize Value must be less than or equal to 50% of the variant's total instance count"
LINEAR_RULE = "LinearStepSize Value must be 10-50% of the variant's total instance count"
BATCH_RULE = "MaximumBatchSize Value must be between 5% to 50% of the variant's total instance count"


@pytest.mark.parametrize(
    ("config", "rule", "ok", "refused"),
    [
        (_canary, CANARY_RULE, [1, 50], [51, 100]),
        (_linear, LINEAR_RULE, [10, 33, 50], [1, 9, 51]),
        (_rolling, BATCH_RULE, [5, 50], [1, 4, 51]),
    ],
)
def test_percent_sizes_are_checked_without_instance_counts(
    config: Any, rule: str, ok: list[int], refused: list[int]
) -> None:
    for value in ok:
        check_deployment_config(config("CAPACITY_PERCENT", value))
    for value in refused:
        assert _refusal(config("CAPACITY_PERCENT", value)).message == f"{rule}: {value}% was given."


@pytest.mark.parametrize(
    ("config", "rule", "ok", "refused"),
    [
        # (value, instance count)
        (_canary, CANARY_RULE, [(1, 2), (1, 3), (5, 10)], [(1, 1), (2, 3), (6, 10)]),
        (_linear, LINEAR_RULE, [(1, 10), (1, 3), (5, 10), (1, 2)], [(1, 11), (1, 1), (6, 10), (2, 3)]),
        (_rolling, BATCH_RULE, [(1, 20), (1, 2), (5, 10)], [(1, 21), (1, 1), (6, 10)]),
    ],
)
def test_instance_count_sizes_are_checked_against_each_variant(
    config: Any, rule: str, ok: list[tuple[int, int]], refused: list[tuple[int, int]]
) -> None:
    for value, _count in ok + refused:
        check_deployment_config(config("INSTANCE_COUNT", value))  # unknown fleets: not checked
    for value, count in ok:
        check_deployment_config(config("INSTANCE_COUNT", value), {"AllTraffic": count})
    for value, count in refused:
        message = _refusal(config("INSTANCE_COUNT", value), {"AllTraffic": count}).message
        assert message.startswith(f"{rule}: {value} instance(s) is ")
        assert message.endswith(f"% of variant 'AllTraffic' ({count} instance(s)).")


def test_the_refusal_names_the_variant_and_its_share() -> None:
    message = _refusal(_canary("INSTANCE_COUNT", 2), {"A": 4, "B": 3}).message
    assert message == f"{CANARY_RULE}: 2 instance(s) is 66.67% of variant 'B' (3 instance(s))."


def test_rollback_batch_size_has_no_share_rule() -> None:
    config = _rolling(RollbackMaximumBatchSize=_size("INSTANCE_COUNT", 10))
    check_deployment_config(config, {"AllTraffic": 2})


def test_variants_without_instances_are_left_to_other_checks() -> None:
    check_deployment_config(_canary("INSTANCE_COUNT", 1), {"Serverless": 0})


TIMEOUT = (
    "MaximumExecutionTimeoutInSeconds ({}) must be greater than the total waiting time of the deployment"
)


@pytest.mark.parametrize(
    ("config", "counts", "waits"),
    [
        (_bg(TerminationWaitInSeconds=600), None, 600),
        (_bg(wait=3600, TerminationWaitInSeconds=600), None, 600),  # ALL_AT_ONCE never waits the interval
        (_canary(wait=300, TerminationWaitInSeconds=300), None, 600),
        (_canary(wait=300, TerminationWaitInSeconds=300), {"AllTraffic": 10}, 600),
        # LINEAR bakes between steps: 3 steps of 1 instance -> 2 intervals, then the termination wait.
        (_linear("INSTANCE_COUNT", 1, wait=300), {"AllTraffic": 3}, 600),
        (_linear("CAPACITY_PERCENT", 10, wait=100, TerminationWaitInSeconds=100), {"AllTraffic": 10}, 1000),
        (_rolling("INSTANCE_COUNT", 1, wait=300), {"AllTraffic": 2}, 600),
        (_rolling("CAPACITY_PERCENT", 50, wait=300), {"AllTraffic": 4}, 600),
        (_rolling("CAPACITY_PERCENT", 5, wait=1), {"AllTraffic": 20}, 20),  # within the 600 minimum anyway
    ],
)
def test_timeout_must_exceed_the_plans_waits(
    config: dict[str, Any], counts: dict[str, int] | None, waits: int
) -> None:
    policy = config.get("BlueGreenUpdatePolicy") or config["RollingUpdatePolicy"]
    if waits >= 600:
        policy["MaximumExecutionTimeoutInSeconds"] = waits
        message = _refusal(config, counts).message
        assert message.startswith(TIMEOUT.format(waits) + f" ({waits} seconds of WaitIntervalInSeconds")
    policy["MaximumExecutionTimeoutInSeconds"] = max(600, waits + 1)
    check_deployment_config(config, counts)


def test_timeout_message_wording() -> None:
    config = _linear("INSTANCE_COUNT", 1, wait=300, MaximumExecutionTimeoutInSeconds=600)
    assert _refusal(config, {"AllTraffic": 3}).message == (
        "MaximumExecutionTimeoutInSeconds (600) must be greater than the total waiting time of the "
        "deployment (600 seconds of WaitIntervalInSeconds and TerminationWaitInSeconds for variant "
        "'AllTraffic' (3 instance(s)))."
    )
    config = _bg(TerminationWaitInSeconds=700, MaximumExecutionTimeoutInSeconds=700)
    assert _refusal(config).message == (
        "MaximumExecutionTimeoutInSeconds (700) must be greater than the total waiting time of the "
        "deployment (700 seconds of WaitIntervalInSeconds and TerminationWaitInSeconds)."
    )


def test_without_counts_the_timeout_holds_the_shortest_plan() -> None:
    # A linear or rolling plan's length depends on the fleet: unknown, one instance is assumed.
    check_deployment_config(_linear("INSTANCE_COUNT", 1, wait=3600, MaximumExecutionTimeoutInSeconds=600))
    check_deployment_config(_rolling("INSTANCE_COUNT", 1, wait=599, MaximumExecutionTimeoutInSeconds=600))
    error = _refusal(_rolling("INSTANCE_COUNT", 1, wait=600, MaximumExecutionTimeoutInSeconds=600))
    assert error.message.startswith(TIMEOUT.format(600))


def test_empty_counts_are_unknown_counts() -> None:
    check_deployment_config(_canary("INSTANCE_COUNT", 3), {})


def test_explicit_config_wins_and_is_retained() -> None:
    last = _canary()
    given = _linear()
    assert (
        effective_deployment_config({"DeploymentConfig": given, "RetainDeploymentConfig": True}, last)
        == given
    )
    assert effective_deployment_config({"DeploymentConfig": given}, last) == given
    assert effective_deployment_config({"DeploymentConfig": given}, None) == given


def test_retain_alone_reuses_the_last_config() -> None:
    last = _canary()
    assert effective_deployment_config({"RetainDeploymentConfig": True}, last) is last
    assert effective_deployment_config({"RetainDeploymentConfig": True}, None) is None


def test_neither_means_the_default_and_nothing_retained() -> None:
    assert effective_deployment_config({}, _canary()) is None
    assert (
        effective_deployment_config({"RetainDeploymentConfig": False, "DeploymentConfig": None}, _canary())
        is None
    )
