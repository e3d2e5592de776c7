"""The functions of CloudWatch metric math (SUM, AVG, FILL, IF, RATE, METRICS...), by name.

Semantics follow the user guide's "Metric math syntax and functions" table. Where it is silent we chose:

* SUM/AVG of an array treat a series' missing point as 0 (the guide says so for AVG), so AVG divides by the
  number of series; MIN/MAX/STDDEV/DATAPOINT_COUNT of an array use only the points present at each time.
* Of a single series, SUM of no points is 0 and AVG/MIN/MAX/STDDEV are NaN (points computed from them drop).
* STDDEV is the population standard deviation.
* FILL, TIME_SERIES and the date functions use the query grid: ``start + k * period`` before ``end``.
  FILL(x, REPEAT) leaves the points before the first value empty; FILL(x, LINEAR) fills only gaps that have
  a value on both sides.
* RATE, DIFF and DIFF_TIME have no point at the first timestamp (there is no previous value).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise

from sagemill.domain.metric_math_series import (
    Context,
    MathError,
    Operand,
    TimeSeries,
    Value,
    Word,
    as_scalar,
    make_series,
    map_points,
    truth,
)

Impl = Callable[[str, list[Operand], Context], Value]


@dataclass(frozen=True, slots=True)
class Function:
    """A function's arity (checked when parsing) and its implementation."""

    min_args: int
    max_args: int
    impl: Impl


def _series(name: str, arg: Operand) -> TimeSeries:
    if not isinstance(arg, TimeSeries):
        raise MathError(f"{name} expects a time series here, not {_kind(arg)}.")
    return arg


def _array(name: str, arg: Operand) -> tuple[TimeSeries, ...]:
    if not isinstance(arg, tuple):
        raise MathError(f"{name} expects an array of time series here, not {_kind(arg)}.")
    return arg


def _scalar(name: str, arg: Operand) -> float:
    if not isinstance(arg, float | int) or isinstance(arg, bool):
        raise MathError(f"{name} expects a number here, not {_kind(arg)}.")
    return float(arg)


def _value(name: str, arg: Operand) -> Value:
    if isinstance(arg, Word):
        raise MathError(f"{name} expects a number or time series here, not {_kind(arg)}.")
    return arg


def _kind(arg: Operand) -> str:
    if isinstance(arg, Word):
        return f'the string "{arg.text}"' if arg.quoted else f"the keyword {arg.text}"
    if isinstance(arg, TimeSeries):
        return "a time series"
    return "an array of time series" if isinstance(arg, tuple) else "a number"


def _per_series(fn: Callable[[TimeSeries, Context], TimeSeries]) -> Impl:
    """A function of one series that also applies to each series of an array."""

    def impl(name: str, args: list[Operand], ctx: Context) -> Value:
        arg = args[0]
        if isinstance(arg, tuple):
            return tuple(fn(s, ctx) for s in arg)
        return fn(_series(name, arg), ctx)

    return impl


def _pointwise(fn: Callable[[float], float | None]) -> Impl:
    def impl(name: str, args: list[Operand], ctx: Context) -> Value:
        return map_points(_value(name, args[0]), fn)

    return impl


def _population_stddev(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


# name -> (reducer of a list of values, whether a series missing at a time counts as 0 across an array)
_REDUCERS: dict[str, tuple[Callable[[list[float]], float], bool]] = {
    "SUM": (lambda vs: math.fsum(vs), True),
    "AVG": (lambda vs: math.fsum(vs) / len(vs), True),
    "MIN": (min, False),
    "MAX": (max, False),
    "STDDEV": (_population_stddev, False),
    "DATAPOINT_COUNT": (lambda vs: float(len(vs)), False),
}


def _reduce(name: str, args: list[Operand], ctx: Context) -> Value:
    reducer, missing_is_zero = _REDUCERS[name]
    arg = args[0]
    if isinstance(arg, TimeSeries):
        values = list(arg.values)
        if not values:
            return 0.0 if name in ("SUM", "DATAPOINT_COUNT") else math.nan
        return as_scalar(reducer(values))
    array = _array(name, arg)
    stamps = sorted({t for s in array for t in s.timestamps})
    tables = [s.points() for s in array]
    out: list[tuple[int, float | None]] = []
    for t in stamps:
        if missing_is_zero:
            out.append((t, reducer([table.get(t, 0.0) for table in tables])))
        else:
            out.append((t, reducer([table[t] for table in tables if t in table])))
    return make_series(out)


def _metrics(name: str, args: list[Operand], ctx: Context) -> Value:
    needle = ""
    if args:
        arg = args[0]
        if not isinstance(arg, Word) or not arg.quoted:
            raise MathError(f'METRICS takes a quoted string, such as METRICS("errors"), not {_kind(arg)}.')
        needle = arg.text
    ids = sorted(i for i in ctx.metric_ids if needle in i and i in ctx.env)
    return tuple(replace(ctx.env[i], id=i, label=ctx.env[i].label or i) for i in ids)


def _fill(name: str, args: list[Operand], ctx: Context) -> Value:
    target, filler = args
    if isinstance(filler, tuple):
        raise MathError("FILL cannot fill with an array of time series.")
    if isinstance(filler, Word) and (filler.quoted or filler.text not in ("REPEAT", "LINEAR")):
        raise MathError(f"FILL fills with a number, a time series, REPEAT or LINEAR, not {_kind(filler)}.")
    fill_with: float | TimeSeries | Word = filler

    def fill(series: TimeSeries, ctx: Context) -> TimeSeries:
        known = series.points()
        stamps = sorted(known.keys() | set(ctx.grid()))
        return make_series(_filled(stamps, known, fill_with), series.label, series.id)

    return _per_series(fill)(name, [target], ctx)


def _filled(
    stamps: list[int], known: dict[int, float], filler: float | TimeSeries | Word
) -> list[tuple[int, float | None]]:
    if isinstance(filler, TimeSeries):
        other = filler.points()
        return [(t, known[t] if t in known else other.get(t)) for t in stamps]
    if not isinstance(filler, Word):
        return [(t, known.get(t, filler)) for t in stamps]
    if filler.text == "REPEAT":
        out: list[tuple[int, float | None]] = []
        last: float | None = None
        for t in stamps:
            last = known.get(t, last)
            out.append((t, last))
        return out
    real = sorted(known)
    out = []
    for t in stamps:
        i = bisect_left(real, t)
        if i < len(real) and real[i] == t:
            out.append((t, known[t]))
        elif 0 < i < len(real):
            before, after = real[i - 1], real[i]
            share = (t - before) / (after - before)
            out.append((t, known[before] + (known[after] - known[before]) * share))
        else:
            out.append((t, None))
    return out


def _if(name: str, args: list[Operand], ctx: Context) -> Value:
    cond = _value(name, args[0])
    then = _value(name, args[1])
    other = _value(name, args[2]) if len(args) > 2 else None
    if isinstance(cond, tuple) or isinstance(then, tuple) or isinstance(other, tuple):
        raise MathError("IF works on single time series and numbers, not arrays of time series.")
    if not isinstance(cond, TimeSeries):
        if truth(cond):
            return then
        return other if other is not None else TimeSeries("", (), ())
    # "has the value of 0, if ... TRUE and the corresponding data point does not exist in metric2"
    when_true, when_false = _lookup(then, 0.0), _lookup(other, None)
    stamps = zip(cond.timestamps, cond.values, strict=True)
    return make_series((t, when_true(t) if truth(c) else when_false(t)) for t, c in stamps)


def _lookup(value: float | TimeSeries | None, missing: float | None) -> Callable[[int], float | None]:
    if isinstance(value, TimeSeries):
        points = value.points()
        return lambda t: points.get(t, missing)
    return lambda t: value


def _differences(fn: Callable[[int, float, int, float], float | None]) -> Impl:
    def each(series: TimeSeries, ctx: Context) -> TimeSeries:
        pts = list(zip(series.timestamps, series.values, strict=True))
        out = [(t1, fn(t0, v0, t1, v1)) for (t0, v0), (t1, v1) in pairwise(pts)]
        return make_series(out, series.label, series.id)

    return _per_series(each)


def _running_sum(series: TimeSeries, ctx: Context) -> TimeSeries:
    total, out = 0.0, []
    for t, v in zip(series.timestamps, series.values, strict=True):
        total += v
        out.append((t, total))
    return make_series(out, series.label, series.id)


def _period(name: str, args: list[Operand], ctx: Context) -> Value:
    _series(name, args[0])
    return float(ctx.period)


def _first_last(name: str, args: list[Operand], ctx: Context) -> Value:
    array = _array(name, args[0])
    if not array:
        return TimeSeries("", (), ())
    return array[0] if name == "FIRST" else array[-1]


def _sort(name: str, args: list[Operand], ctx: Context) -> Value:
    array = _array(name, args[0])
    by, order = args[1], args[2]
    if not isinstance(by, Word) or by.quoted or by.text not in ("AVG", "MIN", "MAX", "SUM"):
        raise MathError(f"SORT sorts by AVG, MIN, MAX or SUM, not {_kind(by)}.")
    if not isinstance(order, Word) or order.quoted or order.text not in ("ASC", "DESC"):
        raise MathError(f"SORT's order is ASC or DESC, not {_kind(order)}.")

    def key(series: TimeSeries) -> float:
        value = _reduce(by.text, [series], ctx)
        assert isinstance(value, float)
        return value if not math.isnan(value) else -math.inf

    ordered = sorted(array, key=key, reverse=order.text == "DESC")
    limit = int(_scalar(name, args[3])) if len(args) > 3 else len(ordered)
    return tuple(ordered[: max(limit, 0)])


def _slice(name: str, args: list[Operand], ctx: Context) -> Value:
    array = _array(name, args[0])
    begin = int(_scalar(name, args[1]))
    end = int(_scalar(name, args[2])) if len(args) > 2 else len(array)
    return array[begin:end]


def _time_series(name: str, args: list[Operand], ctx: Context) -> Value:
    value = _scalar(name, args[0])
    return make_series((t, value) for t in ctx.grid())


def _calendar(part: Callable[[datetime], float]) -> Impl:
    def impl(name: str, args: list[Operand], ctx: Context) -> Value:
        _series(name, args[0])
        return make_series((t, part(datetime.fromtimestamp(t, UTC))) for t in ctx.grid())

    return impl


def _log(base: float | None) -> Callable[[float], float | None]:
    return lambda v: math.log(v) if base is None else math.log(v, base)


FUNCTIONS: dict[str, Function] = {
    "ABS": Function(1, 1, _pointwise(abs)),
    "CEIL": Function(1, 1, _pointwise(lambda v: float(math.ceil(v)))),
    "FLOOR": Function(1, 1, _pointwise(lambda v: float(math.floor(v)))),
    "LOG": Function(1, 1, _pointwise(_log(None))),
    "LOG10": Function(1, 1, _pointwise(_log(10.0))),
    **{name: Function(1, 1, _reduce) for name in _REDUCERS},
    "METRICS": Function(0, 1, _metrics),
    "METRIC_COUNT": Function(1, 1, lambda n, a, c: float(len(_array(n, a[0])))),
    "FILL": Function(2, 2, _fill),
    "IF": Function(2, 3, _if),
    "RATE": Function(1, 1, _differences(lambda t0, v0, t1, v1: (v1 - v0) / (t1 - t0))),
    "DIFF": Function(1, 1, _differences(lambda t0, v0, t1, v1: v1 - v0)),
    "DIFF_TIME": Function(1, 1, _differences(lambda t0, v0, t1, v1: float(t1 - t0))),
    "RUNNING_SUM": Function(1, 1, _per_series(_running_sum)),
    "PERIOD": Function(1, 1, _period),
    "FIRST": Function(1, 1, _first_last),
    "LAST": Function(1, 1, _first_last),
    "REMOVE_EMPTY": Function(1, 1, lambda n, a, c: tuple(s for s in _array(n, a[0]) if s.timestamps)),
    "SORT": Function(3, 4, _sort),
    "SLICE": Function(2, 3, _slice),
    "TIME_SERIES": Function(1, 1, _time_series),
    "MINUTE": Function(1, 1, _calendar(lambda d: float(d.minute))),
    "HOUR": Function(1, 1, _calendar(lambda d: float(d.hour))),
    "DAY": Function(1, 1, _calendar(lambda d: float(d.isoweekday()))),  # 1 = Monday ... 7 = Sunday
    "DATE": Function(1, 1, _calendar(lambda d: float(d.day))),
    "MONTH": Function(1, 1, _calendar(lambda d: float(d.month))),
    "YEAR": Function(1, 1, _calendar(lambda d: float(d.year))),
    "EPOCH": Function(1, 1, _calendar(lambda d: d.timestamp())),
}
