"""CloudWatch statistics over weighted samples: the five basic ones and the extended (percentile) family.

Sources: the CloudWatch user guide, "CloudWatch statistics definitions" (syntax, bound rules, examples) and
"Percentile-based alarms and low data samples". A sample is a ``(value, weight)`` pair: ``weight`` is how
many observations had that value (``Values``/``Counts`` in PutMetricData), any positive number.

Rank-based statistics read the samples as a weighted distribution of total mass ``N`` (the sum of the
weights); sorted ascending, each value occupies the mass interval ``(before, before + weight]``.

* ``pX`` is nearest-rank: the smallest value whose cumulative weight reaches ``X% * N``; ``p0`` is the
  minimum, ``p100`` the maximum. No interpolation between values.
* Percentage bounds ``(a%:b%)`` keep the mass between positions ``a% * N`` and ``b% * N``; a value straddling
  a boundary keeps only the part of its weight inside (fractional trimming). So ``tc90`` over 15 samples is
  13.5, trimming is symmetric, and TS = TM * TC holds exactly, as the docs define TS.
* ``WM`` with percentage bounds replaces the mass below the lower position with the lowest kept value and
  the mass above the upper position with the highest kept value (``wm98`` uses the nearest-rank p98).
* Absolute bounds ``(x:y)`` keep values with ``x < value <= y`` (the docs: "includes values equal to the
  higher boundary, but does not include values equal to the lower boundary"); an open side has no limit.
  ``WM`` with absolute bounds clamps values into ``[x, y]``.
* ``PR(x:y)`` is the percentage (0-100) of the mass with ``x < value <= y``.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import accumulate
from operator import itemgetter

BASIC_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


class StatisticError(ValueError):
    """An extended statistic that CloudWatch would not accept; the message is meant for the caller."""


@dataclass(frozen=True, slots=True)
class Summary:
    """The mergeable aggregate behind the basic statistics (a CloudWatch statistic set)."""

    count: float
    sum: float
    minimum: float
    maximum: float

    def merge(self, other: Summary) -> Summary:
        return Summary(
            self.count + other.count,
            self.sum + other.sum,
            min(self.minimum, other.minimum),
            max(self.maximum, other.maximum),
        )


EMPTY_SUMMARY = Summary(0.0, 0.0, math.inf, -math.inf)


def summarize(values: Iterable[tuple[float, float]]) -> Summary:
    """The summary of ``(value, weight)`` samples; EMPTY_SUMMARY when there are none."""
    summary = EMPTY_SUMMARY
    for value, weight in values:
        if weight > 0:
            summary = summary.merge(Summary(weight, value * weight, value, value))
    return summary


def basic_statistic(name: str, summary: Summary) -> float:
    """One of BASIC_STATISTICS; NaN for Average/Minimum/Maximum of an empty summary."""
    if name not in BASIC_STATISTICS:
        raise StatisticError(f"The statistic {name!r} is not one of {', '.join(BASIC_STATISTICS)}.")
    if name == "SampleCount":
        return summary.count
    if name == "Sum":
        return summary.sum
    if summary.count <= 0:
        return math.nan
    if name == "Average":
        return summary.sum / summary.count
    return summary.minimum if name == "Minimum" else summary.maximum


# Percentiles take two decimals at most ("p95.45"); the trimmed family takes ten ("up to 10 decimal places").
_PERCENTILE = re.compile(r"p(100(?:\.0{1,2})?|\d{1,2}(?:\.\d{1,2})?)")
_SHORTHAND = re.compile(r"(tm|wm|tc|ts)(100(?:\.0{1,10})?|\d{1,2}(?:\.\d{1,10})?)")
_RANGED = re.compile(r"(TM|WM|TC|TS|PR)\(([^():]*):([^():]*)\)")
_PERCENT_BOUND = re.compile(r"(100(?:\.0{1,10})?|\d{1,2}(?:\.\d{1,10})?)%")
_VALUE_BOUND = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class ExtendedStatistic:
    """A parsed extended statistic; ``text`` is kept as the user wrote it (it names the result)."""

    text: str
    kind: str = field(init=False, compare=False)  # "p", "TM", "WM", "TC", "TS" or "PR"
    # Percentile (kind "p") or percentage bounds: fractions of the mass in [0, 1]; absolute bounds: values.
    lower: Fraction | float | None = field(init=False, compare=False)
    upper: Fraction | float | None = field(init=False, compare=False)
    percent: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        kind, lower, upper, percent = _parse(self.text)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "percent", percent)

    @property
    def percentile_like(self) -> float | None:
        """For ``pX`` the fraction X/100 (0.99 for p99); None for every other statistic."""
        return float(self.upper) if self.kind == "p" and self.upper is not None else None

    def compute(self, values: Sequence[tuple[float, float]]) -> float | None:
        """The statistic over ``(value, weight)`` samples, any order; None: no samples or none kept."""
        if self.kind == "p":
            assert isinstance(self.upper, Fraction)
            whole = _whole_percentile(values, self.upper)
            if not isinstance(whole, _NotWhole):
                return whole
        dist = _Distribution(values)
        if dist.total <= 0:
            return None
        if self.kind == "p":
            assert isinstance(self.upper, Fraction)
            return dist.percentile(self.upper)
        if self.kind == "PR":
            mass, _ = dist.between_values(self.lower, self.upper)
            return 100.0 * mass / dist.total
        if self.kind == "WM":
            return dist.winsorized_mean(self.lower, self.upper, self.percent)
        if self.percent:
            lo, hi = self.lower, self.upper
            assert isinstance(lo, Fraction) and isinstance(hi, Fraction)
            mass, total = dist.between_ranks(lo, hi)
        else:
            mass, total = dist.between_values(self.lower, self.upper)
        if self.kind == "TC":
            return mass
        if self.kind == "TS":
            return total
        return total / mass if mass > 0 else None

    def from_extremes(self, count: int, lowest: float, highest: float) -> float | None:
        """The statistic over ``count`` samples of weight one with these least and greatest values, when
        those decide it: a percentile whose nearest rank is the first or the last (p99 of fewer than 100
        samples is their maximum). None when the values in between are needed.
        """
        if self.kind != "p" or count <= 0:
            return None
        assert isinstance(self.upper, Fraction)
        if self.upper <= 0:
            return lowest
        rank = math.ceil(self.upper * count)  # exact: a Fraction times an int
        if rank >= count:
            return highest
        return lowest if rank <= 1 else None


def parse_extended_statistic(text: str) -> ExtendedStatistic:
    """Parse ``p99.9``, ``tm90``, ``TM(2%:98%)``, ``PR(:300)``, ``IQM``...; StatisticError when invalid."""
    return ExtendedStatistic(text)


def is_low_sample(stat: ExtendedStatistic, sample_count: float) -> bool:
    """Whether a percentile datapoint has too few samples (EvaluateLowSampleCountPercentile=ignore).

    Low means fewer than 10/(1-p) samples for p in [0.5, 1) and fewer than 10/p below 0.5 (p99 needs 1000).
    p0 and p100 are the minimum and maximum, exact with one sample, so they are never low; non-percentiles
    are never low.
    """
    p = stat.upper if stat.kind == "p" else None
    if not isinstance(p, Fraction) or p <= 0 or p >= 1:
        return False
    needed = 10 / (1 - p) if p >= Fraction(1, 2) else 10 / p
    # Exact arithmetic: p99 must need 1000 samples, not 999.99999.
    return Fraction(sample_count) < needed


def _parse(text: str) -> tuple[str, Fraction | float | None, Fraction | float | None, bool]:
    if text == "IQM":
        return "TM", Fraction(1, 4), Fraction(3, 4), True
    if match := _PERCENTILE.fullmatch(text):
        return "p", None, Fraction(match.group(1)) / 100, True
    if match := _SHORTHAND.fullmatch(text):
        upper = Fraction(match.group(2)) / 100
        if upper <= 0:
            raise StatisticError(f"The extended statistic {text} is not valid: the bound must be above 0.")
        return match.group(1).upper(), Fraction(0), upper, True
    match = _RANGED.fullmatch(text)
    if match is None:
        raise StatisticError(
            f"The extended statistic {text} is not valid. Use a percentile between p0.0 and p100 "
            "(at most two decimals), tmNN, wmNN, tcNN, tsNN, IQM, PR(n:m) or TM/WM/TC/TS(bounds) such as "
            "TM(10%:90%) or TM(150:1000)."
        )
    kind, lo_text, hi_text = match.groups()
    if not lo_text and not hi_text:
        raise StatisticError(f"The extended statistic {text} is not valid: give at least one bound.")
    percent = lo_text.endswith("%") or hi_text.endswith("%")
    if percent and kind == "PR":
        raise StatisticError(
            f"The extended statistic {text} is not valid: PR bounds are values, not percentages."
        )
    if percent:
        lower = _percent_bound(text, lo_text, Fraction(0))
        upper = _percent_bound(text, hi_text, Fraction(1))
        if lower >= upper:
            raise StatisticError(
                f"The extended statistic {text} is not valid: the lower bound must be below the upper."
            )
        return kind, lower, upper, True
    low_value = _value_bound(text, lo_text)
    high_value = _value_bound(text, hi_text)
    if low_value is not None and high_value is not None and low_value >= high_value:
        raise StatisticError(
            f"The extended statistic {text} is not valid: the lower bound must be below the upper."
        )
    return kind, low_value, high_value, False


def _percent_bound(text: str, bound: str, default: Fraction) -> Fraction:
    if not bound:
        return default
    match = _PERCENT_BOUND.fullmatch(bound)
    if match is None:
        raise StatisticError(
            f"The extended statistic {text} is not valid: {bound!r} must be a percentage between 0% and 100% "
            "(both bounds percentages, or both values)."
        )
    return Fraction(match.group(1)) / 100


def _value_bound(text: str, bound: str) -> float | None:
    if not bound:
        return None
    if _VALUE_BOUND.fullmatch(bound) is None:
        raise StatisticError(f"The extended statistic {text} is not valid: {bound!r} is not a number.")
    return float(bound)


class _NotWhole:
    """`_whole_percentile` cannot answer: a weight is not a positive whole number."""


_NOT_WHOLE = _NotWhole()
_EXACT_INTEGERS = float(2**53)  # every whole number up to here is a float, so sums of them are exact
_BY_VALUE = itemgetter(0)


def _whole_percentile(samples: Sequence[tuple[float, float]], p: Fraction) -> float | _NotWhole | None:
    """The nearest-rank percentile in floats, when every weight is a positive whole number.

    Such weights are what PutMetricData sends (Values, Counts of whole numbers) and what percentiles
    nearly always read. Their running sums are then exact in any order, so this answers exactly as
    `_Distribution.percentile` does, without merging equal values or comparing Fractions; a period's
    samples take a few C-level passes here instead of a Python loop over each.
    """
    if not samples:
        return None
    ordered = sorted(samples, key=_BY_VALUE)  # stable: equal values keep the order they came in
    weights = [weight for _, weight in ordered]
    try:
        whole = min(weights) > 0 and all(map(float.is_integer, weights))
    except TypeError:  # a weight that is not a float (an int, a Fraction): the exact path takes any
        return _NOT_WHOLE
    if not whole:
        return _NOT_WHOLE
    cumulative = list(accumulate(weights))
    total = cumulative[-1]
    if total >= _EXACT_INTEGERS:
        return _NOT_WHOLE
    if p <= 0:
        return ordered[0][0]
    # The first value whose cumulative weight reaches p * total: with whole sums, ceil(p * total).
    target = -(-p.numerator * int(total) // p.denominator)
    i = bisect_left(cumulative, target)
    # As `_Distribution` answers with the first of equal values to arrive (0.0 and -0.0 are equal).
    while i > 0 and ordered[i - 1][0] == ordered[i][0]:
        i -= 1
    return ordered[i][0]


class _Distribution:
    """Samples sorted by value with cumulative weights; boundary positions are compared exactly."""

    def __init__(self, samples: Iterable[tuple[float, float]]) -> None:
        merged: dict[float, float] = {}
        for value, weight in samples:
            if weight > 0:
                merged[value] = merged.get(value, 0.0) + weight
        self.values = sorted(merged)
        self.weights = [merged[v] for v in self.values]
        self.cumulative: list[float] = []
        running = 0.0
        for weight in self.weights:
            running += weight
            self.cumulative.append(running)
        self.total = running

    def _first_reaching(self, position: Fraction, strictly: bool) -> int:
        """Index of the first value whose cumulative weight reaches ``position`` (passes it: ``strictly``)."""
        i = min(bisect_left(self.cumulative, float(position)), len(self.cumulative) - 1)
        # The float search lands within a step of the exact answer; settle it with exact comparisons.
        while i > 0 and self._reaches(i - 1, position, strictly):
            i -= 1
        while i < len(self.cumulative) - 1 and not self._reaches(i, position, strictly):
            i += 1
        return i

    def _reaches(self, i: int, position: Fraction, strictly: bool) -> bool:
        cum = Fraction(self.cumulative[i])
        return cum > position if strictly else cum >= position

    def percentile(self, p: Fraction) -> float:
        if p <= 0:
            return self.values[0]
        return self.values[self._first_reaching(p * Fraction(self.total), strictly=False)]

    def _rank_window(self, lower: Fraction, upper: Fraction) -> tuple[int, int, Fraction, Fraction]:
        low, high = lower * Fraction(self.total), upper * Fraction(self.total)
        return self._first_reaching(low, strictly=True), self._first_reaching(high, strictly=False), low, high

    def between_ranks(self, lower: Fraction, upper: Fraction) -> tuple[float, float]:
        """(mass, weighted sum) of the mass between positions lower*N and upper*N."""
        first, last, low, high = self._rank_window(lower, upper)
        if first == last:
            mass = float(high - low)
            return mass, mass * self.values[first]
        head = float(Fraction(self.cumulative[first]) - low)
        tail = float(high - Fraction(self.cumulative[last - 1]))
        middle = range(first + 1, last)
        mass = head + tail + sum(self.weights[i] for i in middle)
        total = head * self.values[first] + tail * self.values[last]
        total += sum(self.values[i] * self.weights[i] for i in middle)
        return mass, total

    def between_values(
        self, lower: Fraction | float | None, upper: Fraction | float | None
    ) -> tuple[float, float]:
        """(mass, weighted sum) of the values with lower < value <= upper (None: unbounded)."""
        mass = total = 0.0
        for value, weight in zip(self.values, self.weights, strict=True):
            if (lower is None or value > lower) and (upper is None or value <= upper):
                mass += weight
                total += value * weight
        return mass, total

    def winsorized_mean(
        self, lower: Fraction | float | None, upper: Fraction | float | None, percent: bool
    ) -> float:
        if not percent:
            lo = -math.inf if lower is None else float(lower)
            hi = math.inf if upper is None else float(upper)
            clamped = sum(min(max(v, lo), hi) * w for v, w in zip(self.values, self.weights, strict=True))
            return clamped / self.total
        assert isinstance(lower, Fraction) and isinstance(upper, Fraction)
        first, last, low, high = self._rank_window(lower, upper)
        _, kept = self.between_ranks(lower, upper)
        below = float(low) * self.values[first]
        above = float(Fraction(self.total) - high) * self.values[last]
        return (kept + below + above) / self.total
