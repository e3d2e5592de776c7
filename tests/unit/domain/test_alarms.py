"""CloudWatch alarm evaluation: AWS's worked tables, StateReason wording and data, warnings."""

from __future__ import annotations

import json
from calendar import timegm
from dataclasses import replace
from time import strptime

import pytest

from sagemill.domain.alarm_warnings import never_fires
from sagemill.domain.alarms import (
    AlarmCriteria,
    AlarmState,
    ComparisonOperator,
    Datapoint,
    Evaluation,
    TreatMissingData,
    breaches,
    evaluate,
    evaluation_range,
    is_low_sample,
    java_double,
    treat_missing_for,
)

S = AlarmState
C = ComparisonOperator
T = TreatMissingData
RETAIN = None  # "Retain current state" in AWS's tables
EP = "/aws/sagemaker/Endpoints"


def _epoch(text: str) -> int:
    return timegm(strptime(text, "%Y-%m-%dT%H:%M:%S"))


def _criteria(n: int = 3, m: int = 3, treat: T = T.missing, **kw: object) -> AlarmCriteria:
    base: dict[str, object] = {
        "period": 300,
        "evaluation_periods": n,
        "datapoints_to_alarm": m,
        "comparison": C.GreaterThanThreshold,
        "threshold": 10.0,
        "treat_missing": treat,
        "statistic": "Average",
    }
    base.update(kw)
    return AlarmCriteria(**base)  # type: ignore[arg-type]


def _range(pattern: str, end: int = 1_700_000_000, period: int = 300) -> list[Datapoint]:
    """AWS table notation, oldest first: 0 non-breaching, X breaching, - missing."""
    marks = pattern.split()
    values = {"0": 5.0, "X": 15.0, "-": None}
    start = end - period * (len(marks) - 1)
    return [Datapoint(start + i * period, values[c], sample_count=1.0) for i, c in enumerate(marks)]


def _dumps(evaluation: Evaluation) -> str:
    return json.dumps(evaluation.reason_data, separators=(",", ":"))


# AWS user guide, "Configuring how CloudWatch alarms treat missing data": both worked tables, every cell,
# as transcribed in guardrails-and-alarms.md §2.3.4, plus the premature-alarm rows of the current page.
COLUMNS = (T.missing, T.ignore, T.breaching, T.notBreaching)
TABLE = [
    # (M, data points, MISSING, IGNORE, BREACHING, NOT BREACHING); N = 3, evaluation range 5
    (3, "0 - X - X", S.OK, S.OK, S.OK, S.OK),
    (3, "0 - - - -", S.OK, S.OK, S.OK, S.OK),
    (3, "- - - - -", S.INSUFFICIENT_DATA, RETAIN, S.ALARM, S.OK),
    (3, "0 X X - X", S.ALARM, S.ALARM, S.ALARM, S.ALARM),
    (3, "- - - - X", S.INSUFFICIENT_DATA, RETAIN, S.ALARM, S.OK),
    (3, "X - - - -", S.ALARM, RETAIN, S.ALARM, S.OK),
    (3, "- - X - -", S.ALARM, RETAIN, S.ALARM, S.OK),
    (2, "0 - X - X", S.ALARM, S.ALARM, S.ALARM, S.ALARM),
    (2, "0 0 X 0 X", S.ALARM, S.ALARM, S.ALARM, S.ALARM),
    (2, "0 - X - -", S.OK, S.OK, S.ALARM, S.OK),
    (2, "- - - - 0", S.OK, S.OK, S.ALARM, S.OK),
    (2, "- - - - X", S.INSUFFICIENT_DATA, RETAIN, S.ALARM, S.OK),
    (2, "- - - X -", S.ALARM, RETAIN, S.ALARM, S.OK),
]
CELLS = [
    pytest.param(m, pattern, treat, row[i], id=f"{m}of3 [{pattern}] {treat}")
    for m, pattern, *row in TABLE
    for i, treat in enumerate(COLUMNS)
]


@pytest.mark.parametrize(("m", "pattern", "treat", "expected"), CELLS)
@pytest.mark.parametrize("current", [S.OK, S.ALARM, S.INSUFFICIENT_DATA])
def test_aws_worked_tables(m: int, pattern: str, treat: T, expected: S | None, current: S) -> None:
    assert evaluation_range(3) == 5
    result = evaluate(_criteria(3, m, treat), _range(pattern), current, now=1_700_000_400)
    assert result.state == expected
    if expected is None:
        assert (result.reason, result.reason_data) == ("", {})
    else:
        assert result.reason and result.reason_data["version"] == "1.0"


def test_second_evaluation_of_row_two_alarms_once_the_good_point_leaves_the_range() -> None:
    # "The next time this alarm is evaluated, if the data is still missing it will go to ALARM".
    assert evaluate(_criteria(treat=T.breaching), _range("- - - - -"), S.OK, 0).state == S.ALARM


def test_reason_m_out_of_n_alarm() -> None:
    c = _criteria(2, 2)
    points = [
        Datapoint(_epoch("2022-01-17T14:37:00"), 11.48, 3),
        Datapoint(_epoch("2022-01-17T14:42:00"), 15.39, 3),
    ]
    result = evaluate(
        c, [Datapoint(points[0].timestamp - 300, None), *points], S.OK, points[1].timestamp + 60
    )
    assert result.state == S.ALARM
    assert result.reason == (
        "Threshold Crossed: 2 out of the last 2 datapoints [15.39 (17/01/22 14:42:00),"
        " 11.48 (17/01/22 14:37:00)] were greater than the threshold (10.0) (minimum 2 datapoints for"
        " OK -> ALARM transition)."
    )


def test_reason_and_data_single_datapoint_without_datapoints_to_alarm() -> None:
    # Real DescribeAlarms output: Sum, Period 300, EvaluationPeriods 1, no DatapointsToAlarm.
    c = _criteria(1, 1, T.notBreaching, comparison=C.GreaterThanOrEqualToThreshold, threshold=3.0)
    c = replace(c, statistic="Sum", datapoints_to_alarm_set=False)
    t = _epoch("2026-01-21T20:17:00")
    result = evaluate(c, [Datapoint(t - 300, None), Datapoint(t, 3.0, 3.0)], S.OK, t + 354.408)
    assert result.reason == (
        "Threshold Crossed: 1 datapoint [3.0 (21/01/26 20:17:00)] was greater than or equal to the"
        " threshold (3.0)."
    )
    assert _dumps(result) == (
        '{"version":"1.0","queryDate":"2026-01-21T20:22:54.408+0000","startDate":"2026-01-21T20:17:00.000+0000",'
        '"statistic":"Sum","period":300,"recentDatapoints":[3.0],"threshold":3.0,"evaluatedDatapoints":'
        '[{"timestamp":"2026-01-21T20:17:00.000+0000","sampleCount":3.0,"value":3.0}]}'
    )


def test_reason_and_data_ok_direction() -> None:
    c = AlarmCriteria(60, 1, 1, C.GreaterThanThreshold, 10.0, T.missing, "SampleCount")
    t = _epoch("2024-02-17T11:50:00")
    result = evaluate(c, [Datapoint(t - 60, None), Datapoint(t, 1.0, 1.0)], S.ALARM, t + 91.46)
    assert result.state == S.OK
    assert result.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (17/02/24 11:50:00)] was not greater than the"
        " threshold (10.0) (minimum 1 datapoint for ALARM -> OK transition)."
    )
    assert _dumps(result) == (
        '{"version":"1.0","queryDate":"2024-02-17T11:51:31.460+0000","startDate":"2024-02-17T11:50:00.000+0000",'
        '"statistic":"SampleCount","period":60,"recentDatapoints":[1.0],"threshold":10.0,"evaluatedDatapoints":'
        '[{"timestamp":"2024-02-17T11:50:00.000+0000","sampleCount":1.0,"value":1.0}]}'
    )


def test_reason_and_data_two_points_evaluated_datapoints_needs_only_n_minus_m_plus_one() -> None:
    c = AlarmCriteria(60, 2, 2, C.GreaterThanThreshold, 42.0, T.ignore, "Sum", datapoints_to_alarm_set=False)
    t = _epoch("2023-01-09T14:01:00")
    points = [
        Datapoint(t, 1.0, 1.0),
        Datapoint(t + 60, 0.0, 1.0),
        Datapoint(t + 120, None),
        Datapoint(t + 180, None),
    ]
    result = evaluate(c, points, S.OK, _epoch("2023-01-09T14:07:25") + 0.504)
    assert result.reason == (
        "Threshold Crossed: 2 datapoints [0.0 (09/01/23 14:02:00), 1.0 (09/01/23 14:01:00)] were not greater"
        " than the threshold (42.0)."
    )
    assert _dumps(result) == (
        '{"version":"1.0","queryDate":"2023-01-09T14:07:25.504+0000","startDate":"2023-01-09T14:01:00.000+0000",'
        '"statistic":"Sum","period":60,"recentDatapoints":[1.0,0.0],"threshold":42.0,"evaluatedDatapoints":'
        '[{"timestamp":"2023-01-09T14:02:00.000+0000","sampleCount":1.0,"value":0.0}]}'
    )


def test_reason_lists_only_the_deciding_side() -> None:
    # "3 out of the last 5 datapoints [...] were not greater than the threshold (0.0)" (M=3, N=5).
    c = AlarmCriteria(60, 5, 3, C.GreaterThanThreshold, 0.0, T.missing, "Maximum")
    t = _epoch("2021-12-21T06:41:00")
    values = [1.0, 0.0, 2.0, 0.0, 0.0]
    result = evaluate(c, [Datapoint(t + 60 * i, v, 1.0) for i, v in enumerate(values)], S.ALARM, t + 311)
    assert result.reason == (
        "Threshold Crossed: 3 out of the last 5 datapoints [0.0 (21/12/21 06:45:00), 0.0 (21/12/21 06:44:00),"
        " 0.0 (21/12/21 06:42:00)] were not greater than the threshold (0.0) (minimum 3 datapoints for"
        " ALARM -> OK transition)."
    )
    assert [p["timestamp"][11:16] for p in result.reason_data["evaluatedDatapoints"]] == [
        "06:45",
        "06:44",
        "06:42",
    ]


def test_insufficient_data_reason_and_data() -> None:
    c = AlarmCriteria(60, 5, 5, C.GreaterThanThreshold, 5.0, T.missing, "Average")
    t = _epoch("2023-08-04T12:24:00")
    result = evaluate(
        c, [Datapoint(t + 60 * i, None) for i in range(7)], S.OK, _epoch("2023-08-04T12:31:29") + 0.591
    )
    assert result.reason == "Insufficient Data: 5 datapoints were unknown."
    stamps = ",".join(f'{{"timestamp":"2023-08-04T12:{mm}:00.000+0000"}}' for mm in (30, 29, 28, 27, 26))
    assert _dumps(result) == (
        '{"version":"1.0","queryDate":"2023-08-04T12:31:29.591+0000","statistic":"Average","period":60,'
        f'"recentDatapoints":[],"threshold":5.0,"evaluatedDatapoints":[{stamps}]}}'
    )
    one = AlarmCriteria(60, 1, 1, C.GreaterThanThreshold, 5.0, T.missing, "Average")
    assert (
        evaluate(one, _range("- - -", period=60), S.OK, 0).reason
        == "Insufficient Data: 1 datapoint was unknown."
    )


@pytest.mark.parametrize(
    ("treat", "n", "period", "newest", "now", "statistic", "threshold", "reason", "data"),
    [
        (
            T.breaching, 2, 60, "2026-02-27T19:52:00", "2026-02-27T19:53:10.678", "Sum", 3.0,
            "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were"
            " treated as [Breaching].",
            '{"version":"1.0","queryDate":"2026-02-27T19:53:10.678+0000","statistic":"Sum","period":60,'
            '"recentDatapoints":[],'
            '"threshold":3.0,"evaluatedDatapoints":[{"timestamp":"2026-02-27T19:52:00.000+0000"},'
            '{"timestamp":"2026-02-27T19:51:00.000+0000"}]}',
        ),
        (
            T.notBreaching, 1, 300, "2026-01-13T01:50:00", "2026-01-13T01:57:48.092", "Sum", 10.0,
            "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated"
            " as [NonBreaching].",
            '{"version":"1.0","queryDate":"2026-01-13T01:57:48.092+0000","statistic":"Sum","period":300,'
            '"recentDatapoints":[],'
            '"threshold":10.0,"evaluatedDatapoints":[{"timestamp":"2026-01-13T01:50:00.000+0000"}]}',
        ),
    ],
)  # fmt: skip
def test_all_missing_treated_reasons(
    treat: T,
    n: int,
    period: int,
    newest: str,
    now: str,
    statistic: str,
    threshold: float,
    reason: str,
    data: str,
) -> None:
    c = AlarmCriteria(period, n, n, C.GreaterThanOrEqualToThreshold, threshold, treat, statistic)
    end = _epoch(newest)
    points = [Datapoint(end - period * i, None) for i in reversed(range(evaluation_range(n)))]
    result = evaluate(c, points, S.INSUFFICIENT_DATA, _epoch(now[:19]) + float(now[19:]))
    assert result.state == (S.ALARM if treat == T.breaching else S.OK)
    assert (result.reason, _dumps(result)) == (reason, data)


def test_mixed_reason_long_form_with_filled_points() -> None:
    c = AlarmCriteria(300, 20, 1, C.GreaterThanOrEqualToThreshold, 1.0, T.notBreaching, "Sum")
    end = _epoch("2024-03-16T12:15:00")
    points = [Datapoint(end - 300 * i, None) for i in reversed(range(1, evaluation_range(20)))]
    result = evaluate(c, [*points, Datapoint(end, 613.0, 613.0)], S.OK, end + 105)
    assert result.reason == (
        "Threshold Crossed: 1 out of the last 20 datapoints [613.0 (16/03/24 12:15:00)] was greater than or"
        " equal to the threshold (1.0) and 19 missing datapoints were treated as [NonBreaching] (minimum"
        " 1 datapoint for OK -> ALARM transition)."
    )


@pytest.mark.parametrize(
    ("value", "state", "reason"),
    [
        (0.0, S.ALARM, "Threshold Crossed: 1 datapoint [0.0 (20/04/26 18:45:00)] was less than the threshold"
         " (1.0) and 1 missing datapoint was treated as [Breaching]."),
        (1.0, S.OK, "Threshold Crossed: 1 datapoint [1.0 (20/04/26 18:45:00)] was not less than the threshold"
         " (1.0) and 1 missing datapoint was treated as [Breaching]."),
    ],
)  # fmt: skip
def test_mixed_reason_short_form(value: float, state: S, reason: str) -> None:
    c = AlarmCriteria(
        300, 2, 2, C.LessThanThreshold, 1.0, T.breaching, "Minimum", datapoints_to_alarm_set=False
    )
    t = _epoch("2026-04-20T18:45:00")
    points = [
        Datapoint(t - 600, None),
        Datapoint(t - 300, None),
        Datapoint(t, value, 1.0),
        Datapoint(t + 300, None),
    ]
    result = evaluate(c, points, S.OK, t + 400)
    assert (result.state, result.reason) == (state, reason)
    # The filled slot is the newest missing period; it is listed, value-less, when it decides the ALARM.
    evaluated = result.reason_data["evaluatedDatapoints"]
    assert (
        evaluated[0] == {"timestamp": "2026-04-20T18:50:00.000+0000"}
        if state == S.ALARM
        else len(evaluated) == 1
    )


def test_premature_alarm_reason() -> None:
    c = _criteria(3, 3, T.missing, comparison=C.LessThanThreshold, threshold=1.0)
    t = _epoch("2026-05-01T10:00:00")
    points = [Datapoint(t + 300 * i, 0.0 if i == 2 else None, 1.0) for i in range(5)]
    result = evaluate(c, points, S.OK, t + 1500)
    assert result.state == S.ALARM
    assert result.reason == (
        "Threshold Crossed: 1 out of the last 3 datapoints [0.0 (01/05/26 10:10:00)] was less than the"
        " threshold (1.0) (minimum 3 datapoints for OK -> ALARM transition)."
    )
    # One period later the breaching point is still old enough; with a good point anywhere it is OK.
    assert evaluate(c, [*points[1:], Datapoint(t + 1500, None)], S.OK, 0).state == S.ALARM
    assert evaluate(c, [Datapoint(t - 300, 5.0, 1.0), *points[:-1]], S.OK, 0).state == S.OK


def test_band_reasons_and_data() -> None:
    c = AlarmCriteria(60, 1, 1, C.LessThanLowerOrGreaterThanUpperThreshold, None, T.missing, "")
    t = _epoch("2019-10-03T15:57:00")
    ok = Datapoint(t, 0.166666666664241, 1.0, lower=0.0206719426210418, upper=0.30076870222143803)
    bad = Datapoint(t + 60, 0.0, 1.0, lower=0.020599444741798756, upper=0.3006915352732461)
    first = evaluate(c, [Datapoint(t - 60, None), ok], S.INSUFFICIENT_DATA, t + 124.67)
    assert first.reason == (
        "Thresholds Crossed: 1 out of the last 1 datapoints [0.166666666664241 (03/10/19 15:57:00)] was not"
        " less than the lower thresholds [0.0206719426210418] or not greater than the upper thresholds"
        " [0.30076870222143803] (minimum 1 datapoint for ALARM -> OK transition)."
    )
    second = evaluate(c, [ok, bad], S.OK, t + 184.65)
    assert second.reason == (
        "Thresholds Crossed: 1 out of the last 1 datapoints [0.0 (03/10/19 15:58:00)] was less than the lower"
        " thresholds [0.020599444741798756] or greater than the upper thresholds [0.3006915352732461]"
        " (minimum 1 datapoint for OK -> ALARM transition)."
    )
    data = second.reason_data
    data.pop("evaluatedDatapoints")
    assert json.dumps(data, separators=(",", ":")) == (
        '{"version":"1.0","queryDate":"2019-10-03T16:00:04.650+0000","startDate":"2019-10-03T15:58:00.000+0000",'
        '"period":60,"recentDatapoints":[0.0],"recentLowerThresholds":[0.020599444741798756],'
        '"recentUpperThresholds":[0.3006915352732461]}'
    )
    upper = AlarmCriteria(60, 1, 1, C.GreaterThanUpperThreshold, None, T.missing, "")
    assert (
        "was greater than the upper thresholds [0.3006915352732461]"
        in evaluate(upper, [Datapoint(t, 0.5, 1.0, upper=0.3006915352732461)], S.OK, 0).reason
    )
    lower = AlarmCriteria(60, 1, 1, C.LessThanLowerThreshold, None, T.missing, "")
    assert not breaches(lower, Datapoint(t, 0.5, 1.0, upper=1.0))  # no lower bound: treated as missing


def test_unit_goes_before_statistic() -> None:
    c = AlarmCriteria(
        86400, 1, 1, C.GreaterThanOrEqualToThreshold, 15000.0, T.missing, "Average", "Milliseconds", False
    )
    t = _epoch("2022-10-08T09:39:00")
    result = evaluate(c, [Datapoint(t, 1200.0, 1.0)], S.OK, t + 86413.827)
    assert result.reason == (
        "Threshold Crossed: 1 datapoint [1200.0 (08/10/22 09:39:00)] was not greater than or equal to the"
        " threshold (15000.0)."
    )
    assert _dumps(result).startswith(
        '{"version":"1.0","queryDate":"2022-10-09T09:39:13.827+0000","startDate":"2022-10-08T09:39:00.000+0000",'
        '"unit":"Milliseconds","statistic":"Average","period":86400,'
    )


def test_low_sample_percentile() -> None:
    assert [is_low_sample("p99", n) for n in (999, 1000)] == [True, False]
    assert [is_low_sample("p10", n) for n in (99, 100)] == [True, False]
    assert [is_low_sample("p50", n) for n in (19, 20)] == [True, False]
    assert not is_low_sample("Average", 1) and not is_low_sample("p100", 1) and not is_low_sample("tm99", 1)
    c = _criteria(1, 1, T.breaching, statistic="p99")
    low = Datapoint(1_700_000_000, 50.0, 3.0, low_sample=True)
    # The newest sampled period has too few samples: keep the state, whatever TreatMissingData says.
    assert evaluate(c, [Datapoint(low.timestamp - 300, 50.0, 2000), low], S.OK, 0) == Evaluation(None, "", {})
    # An older low-sample period is just missing; a caller may also pass value=None for it.
    ok = evaluate(c, [low, Datapoint(low.timestamp + 300, 5.0, 2000)], S.ALARM, 0)
    assert ok.state == S.OK and ok.reason_data["recentDatapoints"] == [5.0]


def test_guardrail_walkthrough_alarm() -> None:
    # cw.put_metric_alarm(Statistic='Average', Period=60, EvaluationPeriods=1, Threshold=1,
    #   ComparisonOperator='GreaterThanOrEqualToThreshold', TreatMissingData='notBreaching')
    c = AlarmCriteria(60, 1, 1, C.GreaterThanOrEqualToThreshold, 1.0, T.notBreaching, "Average", None, False)
    assert never_fires(c, "AWS/SageMaker", "Invocation5XXErrors") is None
    assert evaluate(c, _range("- - -", period=60), S.INSUFFICIENT_DATA, 0).state == S.OK
    t = 1_700_000_000
    result = evaluate(c, [Datapoint(t - 60, None), Datapoint(t, 1.0, 4.0)], S.OK, 0)
    assert result.state == S.ALARM and "was greater than or equal to the threshold (1.0)." in result.reason


@pytest.mark.parametrize(
    ("namespace", "metric", "statistic", "op", "threshold", "unit", "warning"),
    [
        ("AWS/SageMaker", "Invocation4XXErrors", "Average", C.GreaterThanThreshold, 1.0, None,
         "Alarm can never go to ALARM: Invocation4XXErrors is 1 or 0 per request, so its Average is between 0"
         " and 1 and never greater than 1.0; use Sum for a count, or a threshold between 0 and 1 for a"
         " rate."),
        ("AWS/SageMaker", "Invocation5XXErrors", "p99", C.GreaterThanOrEqualToThreshold, 2.0, None, "1 or 0"),
        ("AWS/SageMaker", "InvocationModelErrors", "Maximum", C.GreaterThanOrEqualToThreshold, 1, None, None),
        ("AWS/SageMaker", "Invocation5XXErrors", "Sum", C.GreaterThanThreshold, 5.0, None, None),
        ("AWS/SageMaker", "Invocation5XXErrors", "Sum", C.LessThanThreshold, 0.0, None,
         "Alarm can never go to ALARM: Invocation5XXErrors is 1 or 0 per request, so its Sum is never less"
         " than 0.0."),
        ("AWS/SageMaker", "ModelLatency", "p99", C.LessThanOrEqualToThreshold, -1.0, None, "never negative"),
        ("AWS/SageMaker", "ModelLatency", "Average", C.LessThanOrEqualToThreshold, 0.0, None, None),
        ("AWS/SageMaker", "ModelLatency", "Average", C.GreaterThanThreshold, 100000.0, None, None),
        ("Custom", "Anything", "SampleCount", C.LessThanThreshold, 0.0, None, "negative number of samples"),
        ("Custom", "Anything", "Average", C.LessThanThreshold, 0.0, None, None),
        ("Custom", "Disk", "Average", C.GreaterThanThreshold, 100.0, "Percent",
         "Alarm can never go to ALARM: Disk is a percentage, so its Average is between 0 and 100 and never"
         " greater than 100.0."),
        (EP, "MemoryUtilization", "Maximum", C.GreaterThanOrEqualToThreshold, 120.0, None, "percentage"),
        (EP, "CPUUtilization", "Average", C.GreaterThanThreshold, 150.0, "Percent", None),
        ("AWS/SageMaker", "Invocation4XXErrors", "PR(0:1)", C.GreaterThanThreshold, 150.0, None, None),
    ],
)  # fmt: skip
def test_never_fires(
    namespace: str,
    metric: str,
    statistic: str,
    op: C,
    threshold: float,
    unit: str | None,
    warning: str | None,
) -> None:
    c = AlarmCriteria(60, 1, 1, op, threshold, T.missing, statistic, unit)
    text = never_fires(c, namespace, metric)
    assert text == warning if warning is None or warning.startswith("Alarm") else warning in (text or "")


def test_never_fires_ignores_band_alarms() -> None:
    c = AlarmCriteria(60, 1, 1, C.GreaterThanUpperThreshold, None, T.missing, "Average")
    assert never_fires(c, "AWS/SageMaker", "Invocation5XXErrors") is None


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1.0"), (15.39, "15.39"), (10, "10.0"), (0.0, "0.0"), (-0.0, "-0.0"), (1e7, "1.0E7"),
     (12345678.9, "1.23456789E7"), (0.001, "0.001"), (0.0001, "1.0E-4"), (-2.5e-5, "-2.5E-5"),
     (99.83333333333333, "99.83333333333333"), (float("inf"), "Infinity"), (float("nan"), "NaN")],
)  # fmt: skip
def test_java_double(value: float, text: str) -> None:
    assert java_double(value) == text


def test_operators_and_validation() -> None:
    p = Datapoint(0, 10.0, 1.0)
    ops = [
        C.GreaterThanOrEqualToThreshold,
        C.GreaterThanThreshold,
        C.LessThanThreshold,
        C.LessThanOrEqualToThreshold,
    ]
    assert [breaches(_criteria(comparison=op), p) for op in ops] == [True, False, False, True]
    assert not breaches(_criteria(), Datapoint(0, None))
    assert not breaches(_criteria(), Datapoint(0, float("nan")))
    with pytest.raises(ValueError, match="threshold"):
        breaches(_criteria(threshold=None), p)
    with pytest.raises(ValueError):
        evaluate(_criteria(3, 4), _range("X X X"), S.OK, 0)
    with pytest.raises(ValueError):
        evaluate(_criteria(), [], S.OK, 0)
    # A range shorter than N is padded with missing periods.
    assert evaluate(_criteria(3, 3, T.breaching), _range("X"), S.OK, 0).state == S.ALARM
    assert treat_missing_for("AWS/DynamoDB", T.breaching) == T.ignore
    assert treat_missing_for("AWS/SageMaker", T.breaching) == T.breaching
    assert [evaluation_range(n) for n in (1, 3, 5, 6, 9, 10)] == [3, 5, 7, 8, 12, 13]
