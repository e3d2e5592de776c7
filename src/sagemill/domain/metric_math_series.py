"""Values of CloudWatch metric math (scalars, time series, arrays) and their point-wise arithmetic."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace

# Alignment follows the user guide ("Metric math syntax and functions"): "Missing values in a time series
# are treated as 0" for arithmetic, and comparison operators treat "the missing value in the other time
# series as 0". So a series-by-series operation runs over the union of both series' timestamps. "If the value
# of a data point causes a function to attempt to divide by zero, the data point is dropped"; we drop every
# point whose result is not a finite number (x/0, LOG(0), overflow), and a scalar result is then NaN.


class MathError(ValueError):
    """An expression CloudWatch would reject; ``position`` is the 1-based column when the parser knows it."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """One series of a query result; ``timestamps`` are epoch seconds, ascending."""

    label: str
    timestamps: tuple[int, ...]
    values: tuple[float, ...]
    id: str = ""

    def __post_init__(self) -> None:
        if len(self.timestamps) != len(self.values):
            raise ValueError("a time series needs one value per timestamp")

    def points(self) -> dict[int, float]:
        return dict(zip(self.timestamps, self.values, strict=True))


Value = float | TimeSeries | tuple[TimeSeries, ...]


@dataclass(frozen=True, slots=True)
class Word:
    """A function argument that is not a value: a quoted string or a bare keyword such as REPEAT or DESC."""

    text: str
    quoted: bool


Operand = Value | Word


@dataclass(frozen=True, slots=True)
class Context:
    """What the functions may read besides their arguments."""

    env: Mapping[str, TimeSeries]
    metric_ids: Collection[str]
    period: int
    start: int
    end: int

    def grid(self) -> range:
        """The query's timestamps: one per period from ``start``, before ``end``."""
        return range(self.start, self.end, max(self.period, 1))


def make_series(points: Iterable[tuple[int, float | None]], label: str = "", id: str = "") -> TimeSeries:
    """A series from points in any order, dropping those with no value or a non-finite one."""
    kept = sorted((t, v) for t, v in points if v is not None and math.isfinite(v))
    return TimeSeries(label, tuple(t for t, _ in kept), tuple(v for _, v in kept), id)


def as_scalar(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else math.nan


def map_points(value: Value, fn: Callable[[float], float | None]) -> Value:
    """Apply ``fn`` to every point of a series or of each series of an array, or to a scalar."""
    if isinstance(value, TimeSeries):
        points = zip(value.timestamps, value.values, strict=True)
        return make_series(((t, _safe(fn, v)) for t, v in points), value.label, value.id)
    if isinstance(value, tuple):
        return tuple(_as_series(map_points(s, fn)) for s in value)
    return as_scalar(_safe(fn, value))


def combine(left: Value, right: Value, fn: Callable[[float, float], float | None], symbol: str) -> Value:
    """A binary operation between scalars, series and arrays, aligned by timestamp (missing counts as 0)."""
    if isinstance(left, tuple) and isinstance(right, tuple):
        raise MathError(f"The operator {symbol} cannot combine two arrays of time series.")
    # Each result of an array keeps its series' label and id: graphs name the lines after them.
    if isinstance(left, tuple):
        return tuple(_named_as(combine(s, right, fn, symbol), s) for s in left)
    if isinstance(right, tuple):
        return tuple(_named_as(combine(left, s, fn, symbol), s) for s in right)
    if isinstance(left, TimeSeries) and isinstance(right, TimeSeries):
        a, b = left.points(), right.points()
        stamps = sorted(a.keys() | b.keys())
        return make_series((t, _safe2(fn, a.get(t, 0.0), b.get(t, 0.0))) for t in stamps)
    if isinstance(left, TimeSeries):
        assert not isinstance(right, TimeSeries)
        return map_points(left, lambda v: fn(v, right))
    if isinstance(right, TimeSeries):
        return map_points(right, lambda v: fn(left, v))
    return as_scalar(_safe2(fn, left, right))


def _as_series(value: Value) -> TimeSeries:
    assert isinstance(value, TimeSeries)
    return value


def _named_as(value: Value, source: TimeSeries) -> TimeSeries:
    return replace(_as_series(value), label=source.label, id=source.id)


def _safe(fn: Callable[[float], float | None], x: float) -> float | None:
    try:
        return fn(x)
    except (ArithmeticError, ValueError):
        return None


def _safe2(fn: Callable[[float, float], float | None], x: float, y: float) -> float | None:
    try:
        return fn(x, y)
    except (ArithmeticError, ValueError):
        return None


def divide(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


def power(a: float, b: float) -> float | None:
    # math.pow raises on a negative base with a fractional exponent, where ** would return a complex number.
    return math.pow(a, b)


def truth(x: float) -> bool:
    """IF and the logical operators read 0 as false and any other value as true."""
    return x != 0


BINARY: dict[str, Callable[[float, float], float | None]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": divide,
    "^": power,
    "==": lambda a, b: float(a == b),
    "!=": lambda a, b: float(a != b),
    "<": lambda a, b: float(a < b),
    "<=": lambda a, b: float(a <= b),
    ">": lambda a, b: float(a > b),
    ">=": lambda a, b: float(a >= b),
    "AND": lambda a, b: float(truth(a) and truth(b)),
    "OR": lambda a, b: float(truth(a) or truth(b)),
}
