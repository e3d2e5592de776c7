"""DeploymentConfig (UpdateEndpoint/CreateEndpoint): SageMaker's server-side checks and retention. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sagemill.domain.rollout import plan_deployment, total_wait_seconds

# Configs are the wire's PascalCase mappings, as received and as DescribeEndpoint returns them in
# LastDeploymentConfig. botocore checks only required members, types and minima (guardrails-and-alarms.md
# §0 fact 2), so everything below reaches the server and must be refused here.
#
# Two kinds of refusal, as AWS words them:
# * model constraints (ranges, enums, lengths, patterns, required members) are gathered and reported
#   together: "N validation error(s) detected: Value 'X' at 'deploymentConfig.…' failed to satisfy
#   constraint: …", the same wording (and the same cap of 10 listed problems) as sagemill.aws.validation;
# * cross-field rules are refused one at a time with a plain sentence, checked only once the model
#   constraints hold. AWS publishes none of these sentences: the wording is ours, built from the API
#   reference's own phrases ("Only one update policy should be used…", "Value must be 10-50% of the
#   variant's total instance count").
# Our additions to the model: CAPACITY_PERCENT above 100 and an Alarm without AlarmName are refused as model
# constraints (the model leaves both open; neither means anything).

WAIT_MAX = 3600
TIMEOUT_MIN, TIMEOUT_MAX = 600, 28800
ALARMS_MIN, ALARMS_MAX = 1, 10
ALARM_NAME_MAX = 255
ALARM_NAME_PATTERN = r"(?!\s*$).+"
TRAFFIC_TYPES = ("ALL_AT_ONCE", "CANARY", "LINEAR")
CAPACITY_TYPES = ("INSTANCE_COUNT", "CAPACITY_PERCENT")
_MAX_LISTED = 10
_ROOT = "deploymentConfig"

# (member, lowest %, highest %, the API reference's phrase) for the sizes bounded by the variant's fleet.
_CANARY = ("CanarySize", 0, 50, "less than or equal to 50%")
_LINEAR = ("LinearStepSize", 10, 50, "10-50%")
_BATCH = ("MaximumBatchSize", 5, 50, "between 5% to 50%")


class DeploymentConfigError(ValueError):
    """A DeploymentConfig SageMaker refuses; `message` is the ValidationException's message."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems: tuple[str, ...] = tuple(problems) or (message,)
        """Each model constraint broken (all of them, even past the 10 listed), or the one sentence."""


def check_deployment_config(
    config: Mapping[str, Any], variant_instance_counts: Mapping[str, int] | None = None
) -> None:
    """Raise DeploymentConfigError unless SageMaker would accept `config`; return None when it would.

    `variant_instance_counts` maps each variant of the new endpoint config to its instance count. With it,
    sizes given as INSTANCE_COUNT are checked against each variant's fleet and the timeout against each
    variant's plan; without it only what the config alone decides is checked, and the timeout is held to
    the shortest plan any fleet could run (one instance), so no config a fleet could satisfy is refused.
    Validate the *effective* config (see `effective_deployment_config`): a retained one meets new counts.
    """
    model = _Model()
    model.deployment_config(config)
    if model.problems:
        count = len(model.problems)
        listed = "; ".join(model.problems[:_MAX_LISTED])
        noun = "error" if count == 1 else "errors"
        raise DeploymentConfigError(f"{count} validation {noun} detected: {listed}", model.problems)
    sentence = _cross_field_problem(config, variant_instance_counts)
    if sentence is not None:
        raise DeploymentConfigError(sentence)


def effective_deployment_config(
    request: Mapping[str, Any], last: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """The DeploymentConfig governing an UpdateEndpoint (or CreateEndpoint) `request`.

    What is returned also becomes the endpoint's LastDeploymentConfig. A DeploymentConfig in the request
    always wins, even with RetainDeploymentConfig=True (AWS leaves the pair undocumented; the explicit
    config is the least surprising reading, and it is what is retained from then on). RetainDeploymentConfig
    alone reuses `last` (None if there never was one). Neither: None, UpdateEndpoint's default (blue/green,
    all at once, no bake), and the endpoint keeps no LastDeploymentConfig.
    """
    config = request.get("DeploymentConfig")
    if config is not None:
        return dict(config)
    if request.get("RetainDeploymentConfig"):
        return last
    return None


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _render(value: Any) -> str:
    # As sagemill.aws.validation renders values, so both layers word one problem identically.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    return str(value)


class _Model:
    """Walks a DeploymentConfig against the botocore model's constraints, collecting AWS-worded problems."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, value: Any, path: str, constraint: str) -> None:
        shown = "null" if value is None else f"'{_render(value)}'"
        self.problems.append(f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}")

    def structure(self, value: Any, path: str, required: Sequence[str] = ()) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.problem(value, path, "Member must be a structure")  # the wire's parser words its own
            return None
        for name in required:
            if value.get(name) is None:
                self.problem(None, f"{path}.{_camel(name)}", "Member must not be null")
        return value

    def integer(self, value: Any, path: str, low: int, high: int | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(value, path, "Member must be an integer")
        elif value < low:
            self.problem(value, path, f"Member must have value greater than or equal to {low}")
        elif high is not None and value > high:
            self.problem(value, path, f"Member must have value less than or equal to {high}")

    def enum(self, value: Any, path: str, allowed: Sequence[str]) -> bool:
        if value is not None and value not in allowed:
            self.problem(value, path, f"Member must satisfy enum value set: [{', '.join(allowed)}]")
            return False
        return value is not None

    def capacity(self, value: Any, path: str) -> None:
        size = self.structure(value, path, ("Type", "Value"))
        if size is None:
            return
        percent = (
            self.enum(size.get("Type"), f"{path}.type", CAPACITY_TYPES) and size["Type"] == "CAPACITY_PERCENT"
        )
        self.integer(size.get("Value"), f"{path}.value", 1, 100 if percent else None)

    def deployment_config(self, config: Any) -> None:
        root = self.structure(config, _ROOT)
        if root is None:
            return
        member = root.get("BlueGreenUpdatePolicy")
        if member is not None:
            self.blue_green(member, f"{_ROOT}.blueGreenUpdatePolicy")
        member = root.get("RollingUpdatePolicy")
        if member is not None:
            self.rolling(member, f"{_ROOT}.rollingUpdatePolicy")
        member = root.get("AutoRollbackConfiguration")
        if member is not None:
            self.auto_rollback(member, f"{_ROOT}.autoRollbackConfiguration")

    def blue_green(self, value: Any, path: str) -> None:
        policy = self.structure(value, path, ("TrafficRoutingConfiguration",))
        if policy is None:
            return
        routing_value = policy.get("TrafficRoutingConfiguration")
        if routing_value is not None:
            at = f"{path}.trafficRoutingConfiguration"
            routing = self.structure(routing_value, at, ("Type", "WaitIntervalInSeconds"))
            if routing is not None:
                self.enum(routing.get("Type"), f"{at}.type", TRAFFIC_TYPES)
                self.integer(routing.get("WaitIntervalInSeconds"), f"{at}.waitIntervalInSeconds", 0, WAIT_MAX)
                for name in ("CanarySize", "LinearStepSize"):
                    if routing.get(name) is not None:
                        self.capacity(routing[name], f"{at}.{_camel(name)}")
        self.integer(policy.get("TerminationWaitInSeconds"), f"{path}.terminationWaitInSeconds", 0, WAIT_MAX)
        timeout = policy.get("MaximumExecutionTimeoutInSeconds")
        self.integer(timeout, f"{path}.maximumExecutionTimeoutInSeconds", TIMEOUT_MIN, TIMEOUT_MAX)

    def rolling(self, value: Any, path: str) -> None:
        policy = self.structure(value, path, ("MaximumBatchSize", "WaitIntervalInSeconds"))
        if policy is None:
            return
        if policy.get("MaximumBatchSize") is not None:
            self.capacity(policy["MaximumBatchSize"], f"{path}.maximumBatchSize")
        self.integer(policy.get("WaitIntervalInSeconds"), f"{path}.waitIntervalInSeconds", 0, WAIT_MAX)
        timeout = policy.get("MaximumExecutionTimeoutInSeconds")
        self.integer(timeout, f"{path}.maximumExecutionTimeoutInSeconds", TIMEOUT_MIN, TIMEOUT_MAX)
        if policy.get("RollbackMaximumBatchSize") is not None:
            self.capacity(policy["RollbackMaximumBatchSize"], f"{path}.rollbackMaximumBatchSize")

    def auto_rollback(self, value: Any, path: str) -> None:
        rollback = self.structure(value, path)
        alarms = None if rollback is None else rollback.get("Alarms")
        if alarms is None:
            return
        at = f"{path}.alarms"
        if not isinstance(alarms, list | tuple):
            self.problem(alarms, at, "Member must be a list")
            return
        if len(alarms) < ALARMS_MIN:
            self.problem(alarms, at, f"Member must have length greater than or equal to {ALARMS_MIN}")
        elif len(alarms) > ALARMS_MAX:
            self.problem(alarms, at, f"Member must have length less than or equal to {ALARMS_MAX}")
        for index, item in enumerate(alarms, start=1):
            alarm = self.structure(item, f"{at}.{index}.member", ("AlarmName",))
            name = None if alarm is None else alarm.get("AlarmName")
            if name is not None:
                self.alarm_name(name, f"{at}.{index}.member.alarmName")

    def alarm_name(self, name: Any, path: str) -> None:
        if not isinstance(name, str):
            self.problem(name, path, "Member must be a string")
            return
        if len(name) < 1:
            self.problem(name, path, "Member must have length greater than or equal to 1")
        elif len(name) > ALARM_NAME_MAX:
            self.problem(name, path, f"Member must have length less than or equal to {ALARM_NAME_MAX}")
        if re.fullmatch(ALARM_NAME_PATTERN, name) is None:
            self.problem(name, path, f"Member must satisfy regular expression pattern: {ALARM_NAME_PATTERN}")


def _cross_field_problem(config: Mapping[str, Any], counts: Mapping[str, int] | None) -> str | None:
    """The first cross-field rule `config` breaks, as one sentence; the model constraints already hold."""
    blue_green = config.get("BlueGreenUpdatePolicy")
    rolling = config.get("RollingUpdatePolicy")
    if blue_green is not None and rolling is not None:
        return (
            "Only one update policy should be used in the deployment configuration: specify either "
            "BlueGreenUpdatePolicy or RollingUpdatePolicy, not both."
        )
    fleets = {name: count for name, count in (counts or {}).items() if count >= 1}
    sized: list[tuple[tuple[str, int, int, str], Mapping[str, Any]]] = []
    if blue_green is not None:
        routing = blue_green["TrafficRoutingConfiguration"]
        kind = routing["Type"]
        for rule, wanted in ((_CANARY, "CANARY"), (_LINEAR, "LINEAR")):
            name, size = rule[0], routing.get(rule[0])
            if kind == wanted and size is None:
                return f"{name} must be specified when TrafficRoutingConfiguration Type is {wanted}."
            if kind != wanted and size is not None:
                return f"{name} can only be specified when TrafficRoutingConfiguration Type is {wanted}."
            if size is not None:
                sized.append((rule, size))
    if rolling is not None:
        sized.append((_BATCH, rolling["MaximumBatchSize"]))
    for rule, size in sized:
        sentence = _share_problem(rule, size, fleets)
        if sentence is not None:
            return sentence
    return _timeout_problem(config, blue_green if blue_green is not None else rolling, fleets)


def _share_problem(
    rule: tuple[str, int, int, str], size: Mapping[str, Any], fleets: Mapping[str, int]
) -> str | None:
    name, low, high, phrase = rule
    rule_text = f"{name} Value must be {phrase} of the variant's total instance count"
    value = size["Value"]
    if size["Type"] == "CAPACITY_PERCENT":
        if not low <= value <= high:
            return f"{rule_text}: {value}% was given."
        return None
    for variant, count in fleets.items():
        # Integer comparison of value/count against low%..high%: no float rounding at the edges.
        if not low * count <= 100 * value <= high * count:
            share = 100 * value / count
            return (
                f"{rule_text}: {value} instance(s) is {share:.4g}% of variant '{variant}' "
                f"({count} instance(s))."
            )
    return None


def _timeout_problem(
    config: Mapping[str, Any], policy: Mapping[str, Any] | None, fleets: Mapping[str, int]
) -> str | None:
    timeout = None if policy is None else policy.get("MaximumExecutionTimeoutInSeconds")
    if timeout is None:
        return None
    for variant, count in fleets.items() or [("", 1)]:
        waits = total_wait_seconds(plan_deployment(config, count, count))
        if timeout <= waits:
            where = f" for variant '{variant}' ({count} instance(s))" if variant else ""
            return (
                f"MaximumExecutionTimeoutInSeconds ({timeout}) must be greater than the total waiting time "
                f"of the deployment ({waits} seconds of WaitIntervalInSeconds and TerminationWaitInSeconds"
                f"{where})."
            )
    return None
