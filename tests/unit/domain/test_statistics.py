"""CloudWatch statistics: basic summaries, extended statistics against brute-force expansions, parsing."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sagemill.domain.statistics import (
    BASIC_STATISTICS,
    EMPTY_SUMMARY,
    ExtendedStatistic,
    StatisticError,
    Summary,
    _Distribution,
    basic_statistic,
    is_low_sample,
    parse_extended_statistic,
    summarize,
)

# -- brute force over the expanded observations ----------------------------------------------------


def expand(samples: list[tuple[float, float]]) -> list[float]:
    return sorted(v for v, w in samples for _ in range(int(w)))


def brute_percentile(xs: list[float], p: Fraction) -> float:
    if p == 0:
        return xs[0]
    return xs[math.ceil(p * len(xs)) - 1]


def brute_kept(xs: list[float], a: Fraction, b: Fraction) -> list[Fraction]:
    """Each observation is one unit of mass at (i, i + 1]; the share of it inside [a*N, b*N]."""
    lo, hi = a * len(xs), b * len(xs)
    return [max(Fraction(0), min(Fraction(i + 1), hi) - max(Fraction(i), lo)) for i in range(len(xs))]


def brute_trimmed(kind: str, xs: list[float], a: Fraction, b: Fraction) -> float | None:
    kept = brute_kept(xs, a, b)
    mass = sum(kept, Fraction(0))
    total = sum((k * Fraction(x) for k, x in zip(kept, xs, strict=True)), Fraction(0))
    if kind == "TC":
        return float(mass)
    if kind == "TS":
        return float(total)
    if kind == "TM":
        return float(total / mass) if mass else None
    inside = [x for k, x in zip(kept, xs, strict=True) if k > 0]
    low, high = inside[0], inside[-1]
    below = a * len(xs) * Fraction(low)
    above = (1 - b) * len(xs) * Fraction(high)
    return float((total + below + above) / len(xs))


def brute_values(kind: str, xs: list[float], lo: float | None, hi: float | None) -> float | None:
    inside = [x for x in xs if (lo is None or x > lo) and (hi is None or x <= hi)]
    if kind == "TC":
        return float(len(inside))
    if kind == "TS":
        return float(sum(inside))
    if kind == "PR":
        return 100.0 * len(inside) / len(xs)
    if kind == "WM":
        lo_, hi_ = -math.inf if lo is None else lo, math.inf if hi is None else hi
        return sum(min(max(x, lo_), hi_) for x in xs) / len(xs)
    return sum(inside) / len(inside) if inside else None


samples_st = st.lists(
    st.tuples(st.integers(-50, 50).map(float), st.integers(1, 6).map(float)), min_size=1, max_size=25
)
percent_st = st.integers(0, 100)


# -- Summary and basic statistics ------------------------------------------------------------------


def test_summary_merge_and_basic_statistics() -> None:
    a = summarize([(1.0, 1.0), (5.0, 2.0)])
    b = Summary(1.0, -3.0, -3.0, -3.0)
    merged = a.merge(b)
    assert merged == Summary(4.0, 8.0, -3.0, 5.0)
    assert [basic_statistic(n, merged) for n in BASIC_STATISTICS] == [4.0, 2.0, 8.0, -3.0, 5.0]
    assert EMPTY_SUMMARY.merge(a) == a == a.merge(EMPTY_SUMMARY)


def test_basic_statistics_of_nothing() -> None:
    assert summarize([]) == EMPTY_SUMMARY
    assert basic_statistic("SampleCount", EMPTY_SUMMARY) == 0.0
    assert basic_statistic("Sum", EMPTY_SUMMARY) == 0.0
    for name in ("Average", "Minimum", "Maximum"):
        assert math.isnan(basic_statistic(name, EMPTY_SUMMARY))


def test_unknown_basic_statistic() -> None:
    with pytest.raises(StatisticError, match="Median"):
        basic_statistic("Median", EMPTY_SUMMARY)


def test_summarize_ignores_non_positive_weights() -> None:
    assert summarize([(7.0, 0.0), (2.0, 1.5)]) == Summary(1.5, 3.0, 2.0, 2.0)


# -- worked examples -------------------------------------------------------------------------------

ONE_TO_TEN = [(float(v), 1.0) for v in range(10, 0, -1)]  # deliberately unsorted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p0", 1.0),
        ("p10", 1.0),
        ("p10.01", 2.0),
        ("p50", 5.0),
        ("p90", 9.0),
        ("p99.99", 10.0),
        ("p100", 10.0),
        ("tm90", 5.0),  # drops 10
        ("TM(:90%)", 5.0),
        ("TM(10%:90%)", 5.5),  # keeps 2..9
        ("TM(10%:)", 6.0),  # keeps 2..10
        ("IQM", 5.5),  # half of 3, 4..7, half of 8
        ("tc90", 9.0),
        ("TC(20%:80%)", 6.0),
        ("ts90", 45.0),
        ("TS(80%:)", 19.0),  # 9 + 10
        ("wm90", 5.4),  # 10 counted as 9
        ("WM(10%:90%)", 5.5),  # 1 counted as 2, 10 as 9
        ("TM(2:5)", 4.0),  # 3, 4, 5: lower bound exclusive, upper inclusive
        ("TC(2:5)", 3.0),
        ("TS(2:5)", 12.0),
        ("TC(:0.5)", 0.0),
        ("TC(:5)", 5.0),
        ("TC(5:)", 5.0),
        ("WM(2:5)", 4.1),  # 1 -> 2, 6..10 -> 5
        ("PR(:3)", 30.0),
        ("PR(3:)", 70.0),
        ("PR(2.5:7)", 50.0),
    ],
)
def test_worked_examples(text: str, expected: float) -> None:
    assert parse_extended_statistic(text).compute(ONE_TO_TEN) == pytest.approx(expected)


def test_fractional_trimming_is_symmetric() -> None:
    xs = [(float(v), 1.0) for v in range(1, 16)]
    assert parse_extended_statistic("tc90").compute(xs) == pytest.approx(13.5)
    assert parse_extended_statistic("TC(10%:90%)").compute(xs) == pytest.approx(12.0)
    assert parse_extended_statistic("TM(10%:90%)").compute(xs) == pytest.approx(8.0)


def test_trimmed_sum_is_mean_times_count() -> None:
    xs = [(1.0, 3.0), (4.0, 2.5), (9.0, 0.5), (20.0, 1.0)]
    for bounds in ("(5%:95%)", "(:70%)", "(33%:)", "(1:9)"):
        tm = parse_extended_statistic("TM" + bounds).compute(xs)
        tc = parse_extended_statistic("TC" + bounds).compute(xs)
        ts = parse_extended_statistic("TS" + bounds).compute(xs)
        assert tm is not None and tc is not None and ts is not None
        assert ts == pytest.approx(tm * tc)


def test_single_value_and_all_equal() -> None:
    for xs in ([(42.0, 1.0)], [(42.0, 7.0)], [(42.0, 1.0)] * 9):
        for text in ("p0", "p1", "p50", "p99.9", "p100", "tm99", "TM(10%:90%)", "IQM", "wm1", "WM(40%:60%)"):
            assert parse_extended_statistic(text).compute(xs) == pytest.approx(42.0), text


def test_weights_may_be_fractional() -> None:
    xs = [(1.0, 0.25), (2.0, 0.5), (3.0, 0.25)]
    assert parse_extended_statistic("p25").compute(xs) == 1.0
    assert parse_extended_statistic("p26").compute(xs) == 2.0
    assert parse_extended_statistic("p75").compute(xs) == 2.0
    assert parse_extended_statistic("p76").compute(xs) == 3.0
    assert parse_extended_statistic("IQM").compute(xs) == 2.0
    assert parse_extended_statistic("tc50").compute(xs) == pytest.approx(0.5)
    assert parse_extended_statistic("PR(1:3)").compute(xs) == pytest.approx(75.0)


def test_exact_boundaries_do_not_suffer_float_rounding() -> None:
    # 0.7 * 10 is 7.000000000000001 in floats; the 7th value must be p70 and trimming must keep exactly 7.
    assert parse_extended_statistic("p70").compute(ONE_TO_TEN) == 7.0
    assert parse_extended_statistic("tc70").compute(ONE_TO_TEN) == 7.0
    assert parse_extended_statistic("p95").compute([(float(v), 1.0) for v in range(100)]) == 94.0


def test_nothing_to_compute() -> None:
    for text in ("p50", "tm90", "TC(1:2)", "PR(:3)", "WM(10%:90%)", "IQM"):
        assert parse_extended_statistic(text).compute([]) is None
        assert parse_extended_statistic(text).compute([(5.0, 0.0)]) is None
    assert parse_extended_statistic("TM(100:200)").compute(ONE_TO_TEN) is None
    assert parse_extended_statistic("TC(100:200)").compute(ONE_TO_TEN) == 0.0
    assert parse_extended_statistic("TS(100:200)").compute(ONE_TO_TEN) == 0.0


# -- brute force -----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(samples_st, st.integers(0, 10_000))
def test_percentiles_match_brute_force(samples: list[tuple[float, float]], hundredths: int) -> None:
    p = Fraction(hundredths, 10_000)
    text = f"p{hundredths // 100}.{hundredths % 100:02d}"
    assert parse_extended_statistic(text).compute(samples) == brute_percentile(expand(samples), p)


@settings(max_examples=60, deadline=None)
@given(samples_st, percent_st, percent_st, st.sampled_from(["TM", "TC", "TS", "WM"]))
def test_percentage_bounds_match_brute_force(
    samples: list[tuple[float, float]], a: int, b: int, kind: str
) -> None:
    if a >= b:
        a, b = (b, a) if a != b else (0, max(b, 1))
    got = parse_extended_statistic(f"{kind}({a}%:{b}%)").compute(samples)
    expected = brute_trimmed(kind, expand(samples), Fraction(a, 100), Fraction(b, 100))
    assert got == pytest.approx(expected, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-20, 20).map(float), min_size=20, max_size=20), st.integers(0, 19))
def test_textbook_trimming_when_boundaries_fall_between_observations(values: list[float], cut: int) -> None:
    # With 20 observations and bounds at multiples of 5%, trimming drops whole observations.
    xs = sorted(values)
    a, b = cut, min(cut + 5, 20)
    samples = [(v, 1.0) for v in values]
    bounds = f"({a * 5}%:{b * 5}%)"
    assert parse_extended_statistic("TM" + bounds).compute(samples) == pytest.approx(sum(xs[a:b]) / (b - a))
    assert parse_extended_statistic("TC" + bounds).compute(samples) == b - a
    clipped = [min(max(x, xs[a]), xs[b - 1]) for x in xs]
    assert parse_extended_statistic("WM" + bounds).compute(samples) == pytest.approx(sum(clipped) / 20)


@settings(max_examples=60, deadline=None)
@given(
    samples_st,
    st.one_of(st.none(), st.integers(-60, 60)),
    st.one_of(st.none(), st.integers(-60, 60)),
    st.sampled_from(["TM", "TC", "TS", "WM", "PR"]),
)
def test_value_bounds_match_brute_force(
    samples: list[tuple[float, float]], lo: int | None, hi: int | None, kind: str
) -> None:
    if lo is None and hi is None:
        hi = 0
    if lo is not None and hi is not None and lo >= hi:
        lo, hi = hi - 1, lo + 1
    text = f"{kind}({'' if lo is None else lo}:{'' if hi is None else hi})"
    got = parse_extended_statistic(text).compute(samples)
    expected = brute_values(
        kind, expand(samples), None if lo is None else float(lo), None if hi is None else float(hi)
    )
    assert got == pytest.approx(expected, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(samples_st, st.sampled_from(["p37.5", "tm80", "TM(12.5%:87.5%)", "wm95", "PR(-5:20)", "IQM"]))
def test_splitting_or_scaling_weights_changes_nothing(samples: list[tuple[float, float]], text: str) -> None:
    stat = parse_extended_statistic(text)
    split = [(v, w / 2) for v, w in samples for _ in (0, 1)]
    scaled = [(v, w * 2.5) for v, w in samples]
    expected = stat.compute(samples)
    assert stat.compute(list(reversed(split))) == pytest.approx(expected)
    assert stat.compute(scaled) == pytest.approx(expected)


# -- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "p0", "p0.0", "p5", "p50", "p99", "p99.9", "p99.99", "p100", "p100.0", "p100.00",
        "tm90", "tm99.5", "tm100", "wm98", "tc90", "ts90", "tm0.0000000001",
        "TM(2%:98%)", "TM(150:1000)", "TM(:95%)", "TM(5%:)", "TM(0%:100%)", "TM(10.1234567891%:90%)",
        "WM(10%:90%)", "TC(0.005:0.030)", "TC(80:500)", "TC(:0.5)", "TS(80%:)", "PR(:300)",
        "PR(100:2000)", "PR(10:)", "TM(-5:5)", "IQM",
    ],
)  # fmt: skip
def test_valid_statistics(text: str) -> None:
    stat = parse_extended_statistic(text)
    assert stat.text == text
    assert stat == ExtendedStatistic(text)


@pytest.mark.parametrize(
    "text",
    [
        "", "foo", "p", "p101", "p100.01", "p99.999", "p-1", "P99", "p 99", "p99.", "p.5",
        "tm", "tm0", "tm101", "TM99", "tm(10%:90%)", "Tm(10%:90%)", "iqm", "IQM()",
        "TM(90%:10%)", "TM(50%:50%)", "TM(500:100)", "TM(:)", "TM()", "TM(10%:500)", "TM(10:90%)",
        "TM(101%:)", "TM(10%%:)", "TM(abc:)", "PR(10%:50%)", "pr(:300)", "PR", "PR(:)", "XX(1:2)",
        "TM(1:2:3)", " p99", "p99 ", "tm0.00000000001",
    ],
)  # fmt: skip
def test_invalid_statistics(text: str) -> None:
    with pytest.raises(StatisticError, match="not valid"):
        parse_extended_statistic(text)


def test_error_is_a_value_error_naming_the_text() -> None:
    with pytest.raises(ValueError, match="p101"):
        ExtendedStatistic("p101")


# -- low sample rule -------------------------------------------------------------------------------


def test_percentile_like() -> None:
    assert parse_extended_statistic("p99").percentile_like == 0.99
    assert parse_extended_statistic("p99.9").percentile_like == pytest.approx(0.999)
    assert parse_extended_statistic("p0").percentile_like == 0.0
    assert parse_extended_statistic("tm99").percentile_like is None
    assert parse_extended_statistic("IQM").percentile_like is None


@pytest.mark.parametrize(
    ("text", "needed"),
    [("p99", 1000), ("p99.9", 10_000), ("p90", 100), ("p50", 20), ("p75", 40), ("p10", 100), ("p1", 1000)],
)
def test_low_sample_threshold(text: str, needed: int) -> None:
    stat = parse_extended_statistic(text)
    assert is_low_sample(stat, needed - 1)
    assert is_low_sample(stat, needed - 0.5)
    assert not is_low_sample(stat, needed)
    assert not is_low_sample(stat, needed * 3)


def test_low_sample_never_for_extremes_or_other_statistics() -> None:
    for text in ("p0", "p100", "tm99", "TC(1:2)", "IQM", "PR(:3)"):
        assert not is_low_sample(parse_extended_statistic(text), 1)


# -- the whole-weight percentile path against the exact one ----------------------------------------


def percentile_text(hundredths: int) -> str:
    return "p100" if hundredths == 10_000 else f"p{hundredths // 100}.{hundredths % 100:02d}"


def same_float(a: float | None, b: float | None) -> bool:
    """Equal and of the same sign: 0.0 and -0.0 are told apart."""
    if a is None or b is None:
        return a is b
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


# Few distinct values, so that ties (and 0.0 beside -0.0) are common, or any finite float at all.
values_st = st.one_of(st.sampled_from([-2.5, -0.0, 0.0, 1.0, 3.0, 1e300]), st.floats(allow_nan=False))
weights_st = st.one_of(
    st.integers(1, 5).map(float),
    st.integers(1, 2**60).map(float),  # past 2**53 the float path must step aside
    st.floats(min_value=0.0, max_value=10.0),  # fractions and zero: the exact path's
)


@settings(max_examples=500)
@given(st.lists(st.tuples(values_st, weights_st), max_size=40), st.integers(0, 10_000))
@example([(0.0, 1.0), (-0.0, 1.0)], 10_000)  # the answer is the first of equal values to arrive
@example([(5.0, 2.0**53), (1.0, 1.0)], 5_000)  # a total past 2**53
def test_whole_weight_percentiles_equal_the_exact_ones(
    samples: list[tuple[float, float]], hundredths: int
) -> None:
    stat = parse_extended_statistic(percentile_text(hundredths))
    assert isinstance(stat.upper, Fraction)
    exact = _Distribution(samples)
    expected = exact.percentile(stat.upper) if exact.total > 0 else None
    assert same_float(stat.compute(samples), expected)


@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=300), st.integers(0, 10_000))
def test_extremes_decide_a_percentile_exactly_as_the_samples_do(values: list[float], hundredths: int) -> None:
    stat = parse_extended_statistic(percentile_text(hundredths))
    decided = stat.from_extremes(len(values), min(values), max(values))
    if decided is not None:
        assert decided == stat.compute([(v, 1.0) for v in values])


def test_extremes_decide_only_the_first_and_last_ranks() -> None:
    p99 = parse_extended_statistic("p99")
    assert p99.from_extremes(99, 1.0, 9.0) == 9.0
    assert p99.from_extremes(100, 1.0, 9.0) is None  # the 99th of 100
    assert p99.from_extremes(1, 4.0, 4.0) == 4.0
    assert parse_extended_statistic("p1").from_extremes(100, 1.0, 9.0) == 1.0
    assert parse_extended_statistic("p1").from_extremes(101, 1.0, 9.0) is None
    assert parse_extended_statistic("p0").from_extremes(10**6, 1.0, 9.0) == 1.0
    assert parse_extended_statistic("p100").from_extremes(10**6, 1.0, 9.0) == 9.0
    assert parse_extended_statistic("p50").from_extremes(2, 1.0, 9.0) == 1.0
    assert parse_extended_statistic("p50").from_extremes(3, 1.0, 9.0) is None
    for text in ("tm99", "IQM", "PR(:3)", "TC(1:2)"):
        assert parse_extended_statistic(text).from_extremes(5, 1.0, 9.0) is None
    assert p99.from_extremes(0, 1.0, 9.0) is None
