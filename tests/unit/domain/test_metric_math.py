"""Metric math: parsing and precedence, alignment by timestamp, each function, and CloudWatch's errors."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagemill.domain.metric_math import (
    MathError,
    TimeSeries,
    Value,
    evaluate,
    is_scalar,
    parse,
    referenced_ids,
    uses_metrics_function,
)


def ts(*values: float | None, label: str = "", step: int = 60, start: int = 0) -> TimeSeries:
    """A series on a 60 s grid from 0; None leaves that point out, like '-' in the user guide's tables."""
    points = [(start + i * step, v) for i, v in enumerate(values) if v is not None]
    return TimeSeries(label, tuple(t for t, _ in points), tuple(float(v) for _, v in points))


def run(expression: str, env: Mapping[str, TimeSeries] | None = None, **kw: int) -> Value:
    period, start, end = kw.get("period", 60), kw.get("start", 0), kw.get("end", 300)
    return evaluate(parse(expression), env or {}, period, start, end)


def grid(value: Value, n: int = 5, step: int = 60) -> list[float | None]:
    """A series laid on the grid, None where it has no point."""
    assert isinstance(value, TimeSeries)
    points = value.points()
    assert set(points) <= set(range(0, n * step, step))
    return [points.get(i * step) for i in range(n)]


def scalar(value: Value) -> float:
    assert isinstance(value, float)
    return value


# -- parsing and precedence ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1+2*3", 7.0),
        ("(1+2)*3", 9.0),
        ("10-4-3", 3.0),
        ("8/4/2", 1.0),
        ("2^3^2", 512.0),
        ("-2^2", -4.0),
        ("2^-1", 0.5),
        ("(-2)^2", 4.0),
        ("--3", 3.0),
        ("2*-3", -6.0),
        ("1.5e2 + .5", 150.5),
        ("3 > 2", 1.0),
        ("3 >= 3", 1.0),
        ("3 < 2", 0.0),
        ("2 <= 1", 0.0),
        ("2 == 2", 1.0),
        ("2 != 2", 0.0),
        ("1 + 1 == 2", 1.0),
        ("1 OR 0 AND 0", 1.0),
        ("(1 OR 0) AND 0", 0.0),
        ("1 || 0 && 0", 1.0),
        ("NOT 0", 1.0),
        ("!5", 0.0),
        ("NOT 1 > 2", 1.0),
        ("-5 AND 1", 1.0),
        ("  4 /   2 ", 2.0),
    ],
)
def test_scalar_arithmetic_and_precedence(expression: str, expected: float) -> None:
    assert run(expression) == expected


@settings(max_examples=60, deadline=None)
@given(st.recursive(
    st.integers(-9, 9).map(str),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(" ".join),
        inner.map(lambda e: f"({e})"),
        inner.map(lambda e: f"-{e}"),
    ),
    max_leaves=12,
))  # fmt: skip
def test_precedence_agrees_with_python(expression: str) -> None:
    assert run(expression) == float(eval(expression))  # digits and + - * ( ) only


def test_division_by_zero_between_scalars_is_nan() -> None:
    assert math.isnan(scalar(run("1/0")))
    assert math.isnan(scalar(run("0^-1")))
    assert math.isnan(scalar(run("(-8)^0.5")))


@pytest.mark.parametrize(
    ("expression", "column", "fragment"),
    [
        ("m1 +", 5, "Syntax error at column 5"),
        ("m1 m2", 4, "expected an operator"),
        ("(m1", 4, "expected ')'"),
        ("m1 # 2", 4, "unexpected character"),
        ("", 1, "expected an expression"),
        ("[]", 2, "Syntax error"),
        ("FILL(m1,)", 9, "Syntax error"),
        ("m1 + * m2", 6, "Syntax error"),
        ("FOO(m1)", 1, "Unknown function 'FOO'"),
        ("m1 + sum(m1)", 6, "Unknown function 'sum'"),
        ("Errors + 1", 1, "Unknown name 'Errors'"),
        ("FILL(m1)", 1, "FILL at column 1 takes 2 argument(s), not 1"),
        ("IF(m1)", 1, "takes 2 to 3 argument(s)"),
        ("ABS(m1, m2)", 1, "takes 1 argument(s), not 2"),
        ("1 + _x", 5, "unexpected character"),
    ],
)
def test_syntax_errors_name_the_column(expression: str, column: int, fragment: str) -> None:
    with pytest.raises(MathError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as info:
        parse(expression)
    assert info.value.position == column


def test_ids_may_hold_letters_digits_and_underscores() -> None:
    env = {"errorRate_5xx": ts(1, 2), "m1": ts(10, 20)}
    assert grid(run("errorRate_5xx + m1", env), 2) == [11.0, 22.0]


def test_referenced_ids_and_metrics_function() -> None:
    expression = parse('SUM([m1, e2]) / FILL(m1, REPEAT) + IF(m3 > 1, 2) + SUM(METRICS("err"))')
    assert referenced_ids(expression) == {"m1", "e2", "m3"}
    assert uses_metrics_function(expression)
    assert not uses_metrics_function(parse("m1 * 2"))
    assert referenced_ids(parse("PERIOD(m1) + 1")) == {"m1"}


# -- alignment -------------------------------------------------------------------------------------


def test_series_with_series_uses_the_union_and_missing_counts_as_zero() -> None:
    env = {"m1": ts(1, 2, None, 4), "m2": ts(10, None, 30, 40)}
    assert grid(run("m1 + m2", env)) == [11.0, 2.0, 30.0, 44.0, None]
    assert grid(run("m1 - m2", env)) == [-9.0, 2.0, -30.0, -36.0, None]
    assert grid(run("m1 * m2", env)) == [10.0, 0.0, 0.0, 160.0, None]


def test_division_by_zero_drops_the_point() -> None:
    env = {"m1": ts(1, 2, None, 4, 5), "m2": ts(2, None, 0, 0, 5)}
    assert grid(run("m1 / m2", env)) == [0.5, None, None, None, 1.0]
    assert grid(run("m1 / 0", env)) == [None] * 5
    assert grid(run("m1 / (m1 - 2)", env)) == [-1.0, None, None, 2.0, 5 / 3]


def test_series_with_scalar_keeps_the_series_points_and_label() -> None:
    env = {"m1": ts(1, None, 3, label="Errors")}
    result = run("m1 * 100", env)
    assert grid(result) == [100.0, None, 300.0, None, None]
    assert isinstance(result, TimeSeries) and result.label == "Errors"
    assert grid(run("10 - m1", env)) == [9.0, None, 7.0, None, None]
    assert grid(run("m1 ^ 2", env)) == [1.0, None, 9.0, None, None]
    assert grid(run("-m1", env)) == [-1.0, None, -3.0, None, None]


def test_arrays_apply_each_series() -> None:
    env = {"m1": ts(1, 2, label="a"), "m2": ts(None, 4, label="b"), "m3": ts(10, 10)}
    result = run("[m1, m2] * 2 + m3", env)
    assert isinstance(result, tuple)
    assert [grid(s, 2) for s in result] == [[12.0, 14.0], [10.0, 18.0]]
    assert [s.label for s in result] == ["a", "b"]
    flipped = run("100 / [m1, m2]", env)
    assert isinstance(flipped, tuple)
    assert [grid(s, 2) for s in flipped] == [[100.0, 50.0], [None, 25.0]]
    negated = run("-[m1, m2]", env)
    assert isinstance(negated, tuple) and grid(negated[0], 2) == [-1.0, -2.0]


def test_two_arrays_cannot_be_combined() -> None:
    env = {"m1": ts(1), "m2": ts(2)}
    with pytest.raises(MathError, match="two arrays") as info:
        run("[m1, m2] + [m2, m1]", env)
    assert info.value.position == 10


def test_comparison_and_logical_operators_follow_the_user_guide() -> None:
    # "metric1 has values of [30, 20, 0, 0] and metric2 has values of [20, -, 20, -]"
    env = {"metric1": ts(30, 20, 0, 0), "metric2": ts(20, None, 20, None)}
    assert grid(run("(metric1 < metric2)", env), 4) == [0.0, 0.0, 1.0, 0.0]
    assert grid(run("(metric1 >= 30)", env), 4) == [1.0, 0.0, 0.0, 0.0]
    assert grid(run("(metric1 > 15 AND metric2 > 15)", env), 4) == [1.0, 0.0, 0.0, 0.0]
    assert grid(run("metric1 > 15 && metric2 > 15", env), 4) == [1.0, 0.0, 0.0, 0.0]
    assert grid(run("metric1 == 0 OR metric2 == 20", env), 4) == [1.0, 0.0, 1.0, 1.0]
    assert grid(run("metric1 != 0 || metric2 != 0", env), 4) == [1.0, 1.0, 1.0, 0.0]
    assert grid(run("NOT metric1", env), 4) == [0.0, 0.0, 1.0, 1.0]


# -- IF --------------------------------------------------------------------------------------------

IF_ENV = {
    "metric1": ts(1, 1, 0, 0, None),
    "metric2": ts(30, None, 0, 0, 30),
    "metric3": ts(0, 0, 20, None, 20),
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [  # the user guide's tables
        ("IF(metric1, metric2, metric3)", [30.0, 0.0, 20.0, None, None]),
        ("IF(metric1, 5, metric3)", [5.0, 5.0, 20.0, None, None]),
        ("IF(metric1, metric2, 5)", [30.0, 0.0, 5.0, 5.0, None]),
        ("IF(metric1, metric2)", [30.0, 0.0, None, None, None]),
        ("IF(metric1, 1, 0)", [1.0, 1.0, 0.0, 0.0, None]),
        ("IF(metric3 < 10, metric3)", [0.0, 0.0, None, None, None]),
        ("IF(metric3 > 10, 1, 0)", [0.0, 0.0, 1.0, None, 1.0]),
        ("IF(1, metric2, metric3)", [30.0, None, 0.0, 0.0, 30.0]),
        ("IF(0, metric2, metric3)", [0.0, 0.0, 20.0, None, 20.0]),
        ("IF(0, metric2)", [None] * 5),
        ("IF(metric1 AND metric2 > 10, metric2, -1)", [30.0, -1.0, -1.0, -1.0, -1.0]),
    ],
)
def test_if(expression: str, expected: list[float | None]) -> None:
    assert grid(run(expression, IF_ENV)) == expected


def test_if_with_scalars_and_errors() -> None:
    assert run("IF(2 > 1, 10, 20)") == 10.0
    assert run("IF(0, 10, 20)") == 20.0
    with pytest.raises(MathError, match="arrays"):
        run("IF(metric1, [metric2, metric3])", IF_ENV)


# -- aggregate functions ---------------------------------------------------------------------------


def test_aggregates_of_one_series_are_scalars() -> None:
    env = {"m1": ts(1, None, 3, 8)}
    assert run("SUM(m1)", env) == 12.0
    assert run("AVG(m1)", env) == 4.0
    assert run("MIN(m1)", env) == 1.0
    assert run("MAX(m1)", env) == 8.0
    assert scalar(run("STDDEV(m1)", env)) == pytest.approx(math.sqrt(26 / 3))  # population
    assert run("DATAPOINT_COUNT(m1)", env) == 3.0
    assert grid(run("m1 - AVG(m1)", env)) == [-3.0, None, -1.0, 4.0, None]
    assert grid(run("MAX(m1) / m1", env)) == [8.0, None, 8 / 3, 1.0, None]


def test_aggregates_of_no_points() -> None:
    env = {"m1": ts()}
    assert run("SUM(m1)", env) == 0.0
    assert run("DATAPOINT_COUNT(m1)", env) == 0.0
    for name in ("AVG", "MIN", "MAX", "STDDEV"):
        assert math.isnan(scalar(run(f"{name}(m1)", env)))


def test_aggregates_of_an_array_are_series() -> None:
    env = {"m1": ts(1, 2, None), "m2": ts(3, None, None), "m3": ts(5, 4, 9)}
    assert grid(run("SUM([m1, m2, m3])", env), 3) == [9.0, 6.0, 9.0]
    # "The AVG of an array of time series returns a single time series. Missing values are treated as 0."
    assert grid(run("AVG([m1, m2, m3])", env), 3) == [3.0, 2.0, 3.0]
    assert grid(run("MIN([m1, m2, m3])", env), 3) == [1.0, 2.0, 9.0]
    assert grid(run("MAX([m1, m2, m3])", env), 3) == [5.0, 4.0, 9.0]
    assert grid(run("DATAPOINT_COUNT([m1, m2, m3])", env), 3) == [3.0, 2.0, 1.0]
    stddev = grid(run("STDDEV([m1, m2, m3])", env), 3)
    assert stddev == pytest.approx([math.sqrt(8 / 3), 1.0, 0.0])
    assert grid(run("SUM(100 / [m1, m2])", env), 3) == [100 + 100 / 3, 50.0, None]
    assert run("SUM([m1, m2]) / AVG(m3)", env) == run("(m1 + m2) / 6", env)


def test_aggregates_need_a_series() -> None:
    with pytest.raises(MathError, match="SUM expects an array of time series here, not a number"):
        run("SUM(5)")


# -- METRICS ---------------------------------------------------------------------------------------


def test_metrics_returns_env_series_in_id_order() -> None:
    env = {"m2": ts(2, label="Two"), "errors4xx": ts(4), "m1": ts(1), "errors5xx": ts(5)}
    result = run("METRICS()", env)
    assert isinstance(result, tuple)
    assert [s.id for s in result] == ["errors4xx", "errors5xx", "m1", "m2"]
    assert [s.label for s in result] == ["errors4xx", "errors5xx", "m1", "Two"]
    assert grid(run('SUM(METRICS("errors"))', env), 1) == [9.0]
    assert grid(run("SUM([METRICS('4xx'), METRICS('5xx')])", env), 1) == [9.0]
    assert run('METRICS("nothing")', env) == ()
    assert grid(run("SUM(METRICS()) / 4", env), 1) == [3.0]


def test_metrics_excludes_expression_results_when_told_which_ids_are_metrics() -> None:
    env = {"m1": ts(1), "m2": ts(2), "e1": ts(100)}
    result = evaluate(parse("SUM(METRICS())"), env, 60, 0, 60, metric_ids={"m1", "m2"})
    assert grid(result, 1) == [3.0]


def test_metrics_takes_a_quoted_string() -> None:
    with pytest.raises(MathError, match="quoted string"):
        run("METRICS(m1)", {"m1": ts(1)})


# -- FILL ------------------------------------------------------------------------------------------

GAPS = {"m1": ts(None, 2, None, None, 8), "m2": ts(5, 5, 5, None, 5)}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("FILL(m1, 0)", [0.0, 2.0, 0.0, 0.0, 8.0]),
        ("FILL(m1, -1.5)", [-1.5, 2.0, -1.5, -1.5, 8.0]),
        ("FILL(m1, MIN(m2))", [5.0, 2.0, 5.0, 5.0, 8.0]),
        ("FILL(m1, m2)", [5.0, 2.0, 5.0, None, 8.0]),
        ("FILL(m1, REPEAT)", [None, 2.0, 2.0, 2.0, 8.0]),
        ("FILL(m1, LINEAR)", [None, 2.0, 4.0, 6.0, 8.0]),
        ("FILL(m2, LINEAR)", [5.0, 5.0, 5.0, 5.0, 5.0]),
    ],
)
def test_fill(expression: str, expected: list[float | None]) -> None:
    assert grid(run(expression, GAPS)) == expected


def test_fill_covers_the_whole_query_range_and_arrays() -> None:
    result = run("FILL([m1, m2], 0)", GAPS, start=0, end=420)
    assert isinstance(result, tuple)
    assert grid(result[1], 7) == [5.0, 5.0, 5.0, 0.0, 5.0, 0.0, 0.0]
    assert grid(run("FILL(m1, REPEAT)", GAPS, end=420), 7) == [None, 2.0, 2.0, 2.0, 8.0, 8.0, 8.0]


def test_fill_rejects_other_words() -> None:
    with pytest.raises(MathError, match="REPEAT or LINEAR"):
        run("FILL(m1, ASC)", GAPS)
    with pytest.raises(MathError, match="REPEAT or LINEAR"):
        run('FILL(m1, "REPEAT")', GAPS)


# -- per-point and per-series functions ------------------------------------------------------------


def test_rate_diff_and_friends() -> None:
    env = {"m1": TimeSeries("c", (0, 60, 180, 240), (10.0, 70.0, 70.0, 40.0))}
    assert run("RATE(m1)", env) == TimeSeries("c", (60, 180, 240), (1.0, 0.0, -0.5))
    assert run("DIFF(m1)", env) == TimeSeries("c", (60, 180, 240), (60.0, 0.0, -30.0))
    assert run("DIFF_TIME(m1)", env) == TimeSeries("c", (60, 180, 240), (60.0, 120.0, 60.0))
    assert run("RUNNING_SUM(m1)", env) == TimeSeries("c", (0, 60, 180, 240), (10.0, 80.0, 150.0, 190.0))
    rates = run("RATE([m1, m1 * 2])", env)
    assert isinstance(rates, tuple) and rates[1].values == (2.0, 0.0, -1.0)
    assert run("RATE(m2)", {"m2": ts(5)}) == TimeSeries("", (), ())


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("ABS(m1)", [1.5, 2.0, None, 0.0, 7.25]),
        ("CEIL(m1)", [2.0, -2.0, None, 0.0, 8.0]),
        ("FLOOR(m1)", [1.0, -2.0, None, 0.0, 7.0]),
        ("LOG(m1 * 0 + 1)", [0.0, 0.0, None, 0.0, 0.0]),
        ("LOG10(ABS(m1) * 0 + 100)", [2.0, 2.0, None, 2.0, 2.0]),
        ("LOG(m1)", [math.log(1.5), None, None, None, math.log(7.25)]),
    ],
)
def test_point_functions(expression: str, expected: list[float | None]) -> None:
    env = {"m1": ts(1.5, -2, None, 0, 7.25)}
    assert grid(run(expression, env)) == pytest.approx(expected)


def test_period_and_constant_series() -> None:
    env = {"m1": ts(120, 240)}
    assert grid(run("m1 / PERIOD(m1)", env), 2) == [2.0, 4.0]
    assert run("PERIOD(m1)", env, period=300) == 300.0
    assert grid(run("TIME_SERIES(7)", env)) == [7.0] * 5
    assert grid(run("TIME_SERIES(MAX(m1)) - m1", env)) == [120.0, 0.0, 240.0, 240.0, 240.0]
    with pytest.raises(MathError, match="PERIOD expects a time series"):
        run("PERIOD(5)")


def test_calendar_functions_use_the_query_grid_in_utc() -> None:
    start = 1_704_067_200  # Monday 2024-01-01 00:00:00 UTC
    env = {"m1": TimeSeries("", (start,), (1.0,))}

    def at(name: str) -> list[float]:
        value = run(f"{name}(m1)", env, start=start, end=start + 3 * 86_400, period=86_400 + 3_660)
        assert isinstance(value, TimeSeries)
        return list(value.values)

    assert at("DAY") == [1.0, 2.0, 3.0]
    assert at("DATE") == [1.0, 2.0, 3.0]
    assert at("HOUR") == [0.0, 1.0, 2.0]
    assert at("MINUTE") == [0.0, 1.0, 2.0]
    assert at("MONTH") == [1.0, 1.0, 1.0]
    assert at("YEAR") == [2024.0] * 3
    assert at("EPOCH") == [float(start), float(start + 90_060), float(start + 180_120)]


def test_array_functions() -> None:
    env = {"a": ts(1, 1), "b": ts(9, 9), "c": ts(5, None), "d": ts()}
    sorted_desc = run("SORT(METRICS(), AVG, DESC)", env)
    assert isinstance(sorted_desc, tuple)
    assert [s.id for s in sorted_desc] == ["b", "c", "a", "d"]  # no points sorts as lowest
    top = run("SORT(METRICS(), SUM, ASC, 2)", env)
    assert isinstance(top, tuple) and [s.id for s in top] == ["d", "a"]
    first = run("FIRST(SORT(METRICS(), MAX, DESC))", env)
    assert isinstance(first, TimeSeries) and first.id == "b"
    last = run("LAST(METRICS())", env)
    assert isinstance(last, TimeSeries) and last.id == "d"
    sliced = run("SLICE(METRICS(), 1, 3)", env)
    assert isinstance(sliced, tuple) and [s.id for s in sliced] == ["b", "c"]
    rest = run("SLICE(METRICS(), 2)", env)
    assert isinstance(rest, tuple) and [s.id for s in rest] == ["c", "d"]
    kept = run("REMOVE_EMPTY(METRICS())", env)
    assert isinstance(kept, tuple) and [s.id for s in kept] == ["a", "b", "c"]
    assert run("METRIC_COUNT(METRICS())", env) == 4.0
    assert run("FIRST(METRICS('zzz'))", env) == TimeSeries("", (), ())
    with pytest.raises(MathError, match="SORT sorts by"):
        run("SORT(METRICS(), DESC, DESC)", env)
    with pytest.raises(MathError, match="ASC or DESC"):
        run("SORT(METRICS(), AVG, REPEAT)", env)


# -- evaluation errors -----------------------------------------------------------------------------


def test_unknown_id() -> None:
    with pytest.raises(MathError, match="'m9'") as info:
        run("m1 + m9", {"m1": ts(1)})
    assert info.value.position == 6


def test_words_are_not_values() -> None:
    with pytest.raises(MathError, match="cannot apply"):
        run('m1 + "x"', {"m1": ts(1)})
    with pytest.raises(MathError, match="must produce a time series"):
        run("REPEAT")
    with pytest.raises(MathError, match="time series only"):
        run("[m1, 5]", {"m1": ts(1)})


def test_function_errors_carry_the_call_column() -> None:
    with pytest.raises(MathError) as info:
        run("1 + ABS(REPEAT)")
    assert info.value.position == 5


def test_is_scalar() -> None:
    assert is_scalar(1.0)
    assert not is_scalar(ts(1))
    assert not is_scalar(())


def test_time_series_checks_lengths() -> None:
    with pytest.raises(ValueError, match="one value per timestamp"):
        TimeSeries("x", (1, 2), (1.0,))
