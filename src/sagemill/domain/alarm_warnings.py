"""Metric alarm configuration warnings: thresholds the alarm's statistic can never cross. Pure."""

from __future__ import annotations

import re

from sagemill.domain.alarms import BAND_OPERATORS, COMPARISON_WORDS, AlarmCriteria, java_double
from sagemill.domain.alarms import ComparisonOperator as C

# Metrics emitted as 1 or 0 per request (guardrails-and-alarms.md §2.1): Sum counts, Average is a rate.
_ZERO_ONE = frozenset({"Invocation4XXErrors", "Invocation5XXErrors", "InvocationModelErrors"})
_SIZES = [f"{p}{u}" for u in ("bytes", "bits") for p in ("Kilo", "Mega", "Giga", "Tera")] + ["Bytes", "Bits"]
_NON_NEGATIVE_UNITS = frozenset(
    {"Seconds", "Microseconds", "Milliseconds", "Percent", "Count", "Count/Second", *_SIZES}
    | {f"{u}/Second" for u in _SIZES}
)
_SAGEMAKER_NON_NEGATIVE = frozenset(
    {"Invocations", "InvocationsPerInstance", "InvocationsPerCopy", "ModelLatency", "OverheadLatency"}
    | {"ModelSetupTime", "ModelLoadingWaitTime", "ConcurrentRequestsPerModel", "ConcurrentRequestsPerCopy"}
)
_SAGEMAKER_PERCENT = frozenset({"MemoryUtilization", "DiskUtilization"})
# Instance metrics summed over cores or GPUs (0 to N x 100 %): a Percent unit is no upper bound for them.
_SUMMED_PERCENT = frozenset({"CPUUtilization", "GPUUtilization", "GPUMemoryUtilization"})


def _statistic_kind(statistic: str) -> str:
    """'value' (stays within the metric's range), 'total' (grows with samples) or '' (PR: a rank)."""
    if re.match(r"(Average|Minimum|Maximum|IQM|p\d|tm\d|wm\d|TM\(|WM\()", statistic):
        return "value"
    return "total" if re.match(r"(Sum|SampleCount|ts\d|tc\d|TS\(|TC\()", statistic) else ""


def never_fires(criteria: AlarmCriteria, namespace: str, metric_name: str) -> str | None:
    """A warning when the threshold lies outside the statistic's possible range, so the alarm never fires.

    Example: AWS's own guardrail walkthrough alarms on ``Average`` of ``Invocation4XXErrors`` (1 or 0 per
    request, so at most 1) with ``GreaterThanThreshold`` 1.
    """
    op, t, stat, name = criteria.comparison, criteria.threshold, criteria.statistic, metric_name
    kind = _statistic_kind(stat)
    if op in BAND_OPERATORS or t is None or not kind:
        return None
    sagemaker = namespace == "AWS/SageMaker" or namespace.startswith("/aws/sagemaker/")
    percent = criteria.unit == "Percent" or (
        sagemaker and (name in _SAGEMAKER_PERCENT or name.endswith("Normalized"))
    )
    low, high, subject, advice = None, None, f"{name} is never negative", ""
    if namespace == "AWS/SageMaker" and name in _ZERO_ONE:
        low, subject = 0.0, f"{name} is 1 or 0 per request"
        if kind == "value":
            high, advice = 1.0, "; use Sum for a count, or a threshold between 0 and 1 for a rate"
    elif stat == "SampleCount":
        low, subject = 0.0, f"{name} cannot have a negative number of samples"
    elif percent or criteria.unit in _NON_NEGATIVE_UNITS or (sagemaker and name in _SAGEMAKER_NON_NEGATIVE):
        low = 0.0
        if percent and kind == "value" and not (sagemaker and name in _SUMMED_PERCENT):
            high, subject = 100.0, f"{name} is a percentage"
    impossible = (
        (op == C.GreaterThanThreshold and high is not None and t >= high)
        or (op == C.GreaterThanOrEqualToThreshold and high is not None and t > high)
        or (op == C.LessThanThreshold and low is not None and t <= low)
        or (op == C.LessThanOrEqualToThreshold and low is not None and t < low)
    )
    if not impossible:
        return None
    span = f"between 0 and {high:g} and " if high is not None else ""
    never = f"never {COMPARISON_WORDS[op]} {java_double(t)}"
    return f"Alarm can never go to ALARM: {subject}, so its {stat} is {span}{never}{advice}."
