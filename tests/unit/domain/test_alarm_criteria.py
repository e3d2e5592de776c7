"""Reading a stored metric alarm's evaluation criteria from its PutMetricAlarm parameters."""

from __future__ import annotations

from sagemill.domain.alarm_criteria import criteria_of, period_of
from sagemill.domain.alarms import AlarmCriteria, ComparisonOperator, TreatMissingData


def test_a_single_metric_alarm_keeps_its_parameters() -> None:
    desired = {
        "Period": 60,
        "EvaluationPeriods": 5,
        "DatapointsToAlarm": 3,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 1,
        "TreatMissingData": "breaching",
        "ExtendedStatistic": "p99",
        "Unit": "Microseconds",
    }
    assert criteria_of(desired) == AlarmCriteria(
        period=60,
        evaluation_periods=5,
        datapoints_to_alarm=3,
        comparison=ComparisonOperator.GreaterThanThreshold,
        threshold=1.0,
        treat_missing=TreatMissingData.breaching,
        statistic="p99",
        unit="Microseconds",
        datapoints_to_alarm_set=True,
    )


def test_defaults_follow_cloudwatch() -> None:
    criteria = criteria_of(
        {"Period": 10, "EvaluationPeriods": 2, "ComparisonOperator": "LessThanThreshold", "Statistic": "Sum"}
    )
    assert criteria.datapoints_to_alarm == 2
    assert not criteria.datapoints_to_alarm_set
    assert criteria.treat_missing is TreatMissingData.missing
    assert criteria.threshold is None
    assert criteria.statistic == "Sum"


def test_a_metric_math_alarm_takes_its_longest_period_and_no_statistic() -> None:
    metrics = [
        {"Id": "m1", "MetricStat": {"Period": 60}, "ReturnData": False},
        {"Id": "m2", "MetricStat": {"Period": 300}, "ReturnData": False},
        {"Id": "e1", "Expression": "m1 + m2", "Period": 120},
    ]
    desired = {
        "Metrics": metrics,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Threshold": 0,
    }
    assert period_of(desired) == 300
    assert criteria_of(desired).statistic == ""
    assert period_of({"Metrics": [{"Id": "e1", "Expression": "TIME_SERIES(1)"}]}) == 60
