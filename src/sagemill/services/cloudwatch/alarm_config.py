"""The checks CloudWatch makes on PutMetricAlarm and PutCompositeAlarm beyond the model's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemill.domain.alarm_criteria import criteria_of, period_of
from sagemill.domain.alarm_rules import RuleError, parse_rule
from sagemill.domain.alarm_warnings import never_fires
from sagemill.domain.alarms import TreatMissingData
from sagemill.services.cloudwatch.errors import (
    invalid_combination,
    invalid_value,
    missing_parameter,
    validation,
)
from sagemill.services.cloudwatch.metric_data import check_queries
from sagemill.services.cloudwatch.statistics import check_extended

ALARM_PERIODS = (10, 20, 30)
BAND_OPERATORS = {
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
}
MAX_METRICS = 10
MAX_RULE = 10_240
_SINGLE_METRIC_FIELDS = ("MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period")


def check_alarm_period(period: int, member: str = "Period") -> None:
    if period not in ALARM_PERIODS and (period < 60 or period % 60):
        raise invalid_value(f"The parameter {member} must be 10, 20, 30 or a multiple of 60.")


def check_metric_alarm(params: Mapping[str, Any]) -> None:
    """Raise CloudWatch's error for the first rule `params` breaks."""
    metrics = params.get("Metrics")
    if metrics:
        mixed = [f for f in _SINGLE_METRIC_FIELDS if params.get(f) is not None]
        if mixed:
            raise invalid_combination(f"The parameters Metrics and {mixed[0]} are mutually exclusive.")
        _check_metrics(metrics)
    else:
        for field in ("MetricName", "Namespace", "Period"):
            if params.get(field) is None:
                raise missing_parameter(f"The parameter {field} is required.")
        has_stat, has_extended = (
            params.get("Statistic") is not None,
            params.get("ExtendedStatistic") is not None,
        )
        if has_stat == has_extended:
            raise invalid_combination("Exactly one of Statistic and ExtendedStatistic must be specified.")
        if has_extended:
            check_extended([params["ExtendedStatistic"]], "ExtendedStatistic")
        check_alarm_period(int(params["Period"]))
    operator = params["ComparisonOperator"]
    if operator in BAND_OPERATORS:
        raise invalid_value(
            f"Sagemill does not support anomaly detection alarms (ComparisonOperator {operator}); "
            "use a static Threshold."
        )
    if params.get("ThresholdMetricId") is not None:
        raise invalid_combination("ThresholdMetricId is only valid with an anomaly detection band operator.")
    if params.get("Threshold") is None:
        raise missing_parameter("The parameter Threshold is required.")
    evaluation_periods = int(params["EvaluationPeriods"])
    datapoints = int(params.get("DatapointsToAlarm") or evaluation_periods)
    if datapoints > evaluation_periods:
        raise validation("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
    period = period_of(params)
    limit = 86_400 if period < 3600 else 604_800
    if period * evaluation_periods > limit:
        raise validation(
            f"The alarm's evaluation range (Period x EvaluationPeriods) must not exceed {limit} seconds."
        )
    treat = params.get("TreatMissingData")
    if treat is not None and treat not in {t.value for t in TreatMissingData}:
        raise invalid_value(f"The value {treat} for parameter TreatMissingData is not valid.")
    low = params.get("EvaluateLowSampleCountPercentile")
    if low is not None and low not in ("evaluate", "ignore"):
        raise invalid_value(f"The value {low} for parameter EvaluateLowSampleCountPercentile is not valid.")


def _check_metrics(metrics: list[Mapping[str, Any]]) -> None:
    if len(metrics) > MAX_METRICS:
        raise validation(f"The collection Metrics must not have more than {MAX_METRICS} members.")
    check_queries(metrics, "Metrics")
    returning = [m for m in metrics if m.get("ReturnData", True)]
    if len(returning) != 1:
        raise validation("Exactly one element of the metrics list should return data.")
    periods = {int(m["MetricStat"]["Period"]) for m in metrics if m.get("MetricStat")}
    if len(periods) > 1:
        raise validation("All metrics in an alarm must have the same period.")
    for index, metric in enumerate(metrics, start=1):
        if metric.get("MetricStat"):
            check_alarm_period(
                int(metric["MetricStat"]["Period"]), f"Metrics.member.{index}.MetricStat.Period"
            )


def warning_of(desired: Mapping[str, Any]) -> str | None:
    """Why the alarm can never fire, if it cannot (an Average of a 0/1 metric above 1, …)."""
    if desired.get("Metrics"):
        return None
    return never_fires(criteria_of(desired), str(desired.get("Namespace")), str(desired.get("MetricName")))


def check_composite(params: Mapping[str, Any]) -> None:
    rule = params["AlarmRule"]
    if len(rule) > MAX_RULE:
        raise validation(f"AlarmRule must be at most {MAX_RULE} characters.")
    try:
        parse_rule(rule)
    except RuleError as exc:
        raise validation(f"Error in AlarmRule: {exc}") from exc
