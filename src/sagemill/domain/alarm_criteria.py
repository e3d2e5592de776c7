"""A stored metric alarm's evaluation criteria, read from its validated PutMetricAlarm parameters. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemill.domain.alarms import AlarmCriteria, ComparisonOperator, TreatMissingData


def period_of(params: Mapping[str, Any]) -> int:
    """The alarm's period: `Period`, else the longest period among its `Metrics` (60 when none is given)."""
    if params.get("Period") is not None:
        return int(params["Period"])
    periods = [int(m["MetricStat"]["Period"]) for m in params.get("Metrics") or [] if m.get("MetricStat")]
    periods += [int(m["Period"]) for m in params.get("Metrics") or [] if m.get("Period")]
    return max(periods) if periods else 60


def criteria_of(desired: Mapping[str, Any]) -> AlarmCriteria:
    """The evaluation criteria of a stored metric alarm."""
    evaluation_periods = int(desired["EvaluationPeriods"])
    return AlarmCriteria(
        period=period_of(desired),
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=int(desired.get("DatapointsToAlarm") or evaluation_periods),
        comparison=ComparisonOperator(desired["ComparisonOperator"]),
        threshold=float(desired["Threshold"]) if desired.get("Threshold") is not None else None,
        treat_missing=TreatMissingData(desired.get("TreatMissingData") or "missing"),
        statistic=str(desired.get("ExtendedStatistic") or desired.get("Statistic") or ""),
        unit=desired.get("Unit"),
        datapoints_to_alarm_set=desired.get("DatapointsToAlarm") is not None,
    )
