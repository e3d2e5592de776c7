"""CloudWatch metric alarms: M-of-N evaluation, missing data, StateReason text and data. Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

# Sources (shared/reference/guardrails-and-alarms.md §2.2-2.4, checked against the AWS CloudWatch user
# guide "Evaluating an alarm", "Configuring how CloudWatch alarms treat missing data", "Avoiding premature
# transitions to alarm state" and "Percentile-based alarms and low data samples"). StateReason and
# StateReasonData shapes come from real alarm payloads quoted in public repositories; where AWS's output
# was not observed the choice is marked "(inferred)".


class AlarmState(StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


class ComparisonOperator(StrEnum):
    GreaterThanOrEqualToThreshold = "GreaterThanOrEqualToThreshold"
    GreaterThanThreshold = "GreaterThanThreshold"
    LessThanThreshold = "LessThanThreshold"
    LessThanOrEqualToThreshold = "LessThanOrEqualToThreshold"
    LessThanLowerOrGreaterThanUpperThreshold = "LessThanLowerOrGreaterThanUpperThreshold"
    LessThanLowerThreshold = "LessThanLowerThreshold"
    GreaterThanUpperThreshold = "GreaterThanUpperThreshold"


class TreatMissingData(StrEnum):
    missing = "missing"
    ignore = "ignore"
    breaching = "breaching"
    notBreaching = "notBreaching"


C = ComparisonOperator
BAND_OPERATORS = frozenset(
    {C.LessThanLowerOrGreaterThanUpperThreshold, C.LessThanLowerThreshold, C.GreaterThanUpperThreshold}
)
_LOWER_OPS = frozenset({C.LessThanLowerThreshold, C.LessThanLowerOrGreaterThanUpperThreshold})
_UPPER_OPS = frozenset({C.GreaterThanUpperThreshold, C.LessThanLowerOrGreaterThanUpperThreshold})
COMPARISON_WORDS = {
    C.GreaterThanOrEqualToThreshold: "greater than or equal to",
    C.GreaterThanThreshold: "greater than",
    C.LessThanThreshold: "less than",
    C.LessThanOrEqualToThreshold: "less than or equal to",
}


@dataclass(frozen=True, slots=True)
class Datapoint:
    """One period of the evaluation range; ``value`` None means no data for that period.

    ``low_sample`` marks a percentile datapoint with too few samples under
    ``EvaluateLowSampleCountPercentile=ignore`` (see ``is_low_sample``): it counts as missing, and when it is
    the newest period with samples the alarm keeps its state ("wait to evaluate it until there is enough
    data"). A caller may instead pass ``value=None`` for such periods; only the keep-state rule is lost.
    """

    timestamp: int
    value: float | None
    sample_count: float = 0.0
    lower: float | None = None
    upper: float | None = None
    low_sample: bool = False


@dataclass(frozen=True, slots=True)
class AlarmCriteria:
    """The evaluation half of PutMetricAlarm.

    ``statistic`` is "" for metric-math alarms (AWS then omits it from StateReasonData).
    ``datapoints_to_alarm_set`` says whether the caller gave DatapointsToAlarm: AWS writes the long reason
    ("k out of the last N datapoints … (minimum M datapoints for OK -> ALARM transition)") only then, and
    the short one ("1 datapoint [...] was ...") when M defaulted to N.
    """

    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    comparison: ComparisonOperator
    threshold: float | None
    treat_missing: TreatMissingData
    statistic: str
    unit: str | None = None
    datapoints_to_alarm_set: bool = True


@dataclass(frozen=True, slots=True)
class Evaluation:
    """``state`` None: keep the current state, reason and reason data (``reason`` is then "")."""

    state: AlarmState | None
    reason: str
    reason_data: dict[str, Any]


def evaluation_range(evaluation_periods: int) -> int:
    """How many periods to fetch: more than N so that a few missing periods can be skipped.

    AWS only says the number "depends on the length of the alarm period and whether it is based on a metric
    with standard resolution or high resolution", and uses 5 for N=3 in its tables. N + max(N // 3, 2)
    matches that example (and LocalStack's choice) and gives every alarm at least two spare periods.
    """
    return evaluation_periods + max(evaluation_periods // 3, 2)


def treat_missing_for(namespace: str, configured: TreatMissingData) -> TreatMissingData:
    """AWS/DynamoDB alarms "always ignore missing data even if you choose a different option"."""
    return TreatMissingData.ignore if namespace == "AWS/DynamoDB" else configured


def is_low_sample(statistic: str, sample_count: float) -> bool:
    """Whether a ``pNN`` datapoint has too few samples: < 10/(1-p) for p in [0.5, 1), < 10/p below 0.5."""
    match = re.fullmatch(r"p(\d{1,2}(?:\.\d+)?|100)", statistic)
    if match is None:
        return False
    p = float(match.group(1)) / 100
    if p <= 0 or p >= 1:  # p0 and p100 are the minimum and maximum: one sample is enough
        return False
    return sample_count < (10 / (1 - p) if p >= 0.5 else 10 / p)


def _usable(criteria: AlarmCriteria, point: Datapoint) -> bool:
    if point.value is None or point.low_sample or not math.isfinite(point.value):
        return False
    op = criteria.comparison
    return not ((op in _LOWER_OPS and point.lower is None) or (op in _UPPER_OPS and point.upper is None))


def _val(point: Datapoint | None, attr: str = "value") -> float:
    x = getattr(point, attr)
    assert x is not None
    return float(x)


def breaches(criteria: AlarmCriteria, point: Datapoint) -> bool:
    """Whether a datapoint crosses the threshold (the statistic is the left operand); False when missing."""
    if not _usable(criteria, point):
        return False
    v, t, op = _val(point), criteria.threshold, criteria.comparison
    if op in BAND_OPERATORS:
        return (op in _LOWER_OPS and v < _val(point, "lower")) or (
            op in _UPPER_OPS and v > _val(point, "upper")
        )
    if t is None:
        raise ValueError(f"{op} needs a threshold")
    return {
        C.GreaterThanOrEqualToThreshold: v >= t,
        C.GreaterThanThreshold: v > t,
        C.LessThanThreshold: v < t,
        C.LessThanOrEqualToThreshold: v <= t,
    }[op]


@dataclass(frozen=True, slots=True)
class _Slot:
    """One evaluated datapoint: a real point, or a missing period filled in (``point`` None)."""

    timestamp: int
    point: Datapoint | None
    breaching: bool


def evaluate(
    criteria: AlarmCriteria, datapoints: Sequence[Datapoint], current: AlarmState, now: float
) -> Evaluation:
    """Evaluate an alarm over its evaluation range (oldest first, one datapoint per period, missing included).

    ``current`` is the alarm's state now; it only matters through ``state=None`` (keep it). ``now`` is the
    query time written to StateReasonData.
    """
    n, m = criteria.evaluation_periods, criteria.datapoints_to_alarm
    if n < 1 or not 1 <= m <= n:
        raise ValueError("need 1 <= DatapointsToAlarm <= EvaluationPeriods")
    if not datapoints:
        raise ValueError("the evaluation range has at least one period")
    points = list(datapoints)
    # A range shorter than N is padded with missing periods before it, so filling always finds slots.
    first = points[0].timestamp
    points[:0] = [Datapoint(first - k * criteria.period, None) for k in range(n - len(points), 0, -1)]
    with_samples = [p for p in points if p.value is not None or p.low_sample]
    if with_samples and with_samples[-1].low_sample:
        return Evaluation(None, "", {})
    real = [_Slot(p.timestamp, p, breaches(criteria, p)) for p in points if _usable(criteria, p)]
    gaps = [p.timestamp for p in points if not _usable(criteria, p)]
    treat = criteria.treat_missing
    if len(real) >= n:
        # Enough real points: the most recent N of them decide, TreatMissingData is not needed.
        window = real[-n:]
        state = AlarmState.ALARM if sum(s.breaching for s in window) >= m else AlarmState.OK
        return _decided(criteria, state, window, now)
    if treat in (TreatMissingData.breaching, TreatMissingData.notBreaching):
        # Fill "as few times as possible": the newest missing periods, up to N points in all; every real
        # point of the range still counts ("0 - - - -" with breaching stays OK, AWS table 1 row 2).
        bad = treat == TreatMissingData.breaching
        filled = [_Slot(t, None, bad) for t in gaps[len(gaps) - (n - len(real)) :]]
        window = sorted(real + filled, key=lambda s: s.timestamp)
        state = AlarmState.ALARM if sum(s.breaching for s in window) >= m else AlarmState.OK
        return _decided(criteria, state, window, now)
    # missing / ignore with fewer than N real points: nothing is filled in.
    keep = treat == TreatMissingData.ignore
    if sum(s.breaching for s in real) >= m:
        return _decided(criteria, AlarmState.ALARM, real, now)
    if real and all(s.breaching for s in real):
        # Premature-alarm rule: ALARM when the oldest breaching point is at least M periods old and every
        # newer one is breaching or missing. AWS's tables also require that no real point of the range is
        # non-breaching (2-of-3 row "0 - X - -" is OK), and show "Retain current state" for ignore.
        position = len(points) - next(i for i, p in enumerate(points) if p.timestamp == real[0].timestamp)
        if position >= m:
            return Evaluation(None, "", {}) if keep else _decided(criteria, AlarmState.ALARM, real, now)
        # Breaching points too recent to decide: "- - - - X" is INSUFFICIENT_DATA / retain.
        return Evaluation(None, "", {}) if keep else _insufficient(criteria, real, gaps, now)
    if real:
        return _decided(criteria, AlarmState.OK, real, now)
    return Evaluation(None, "", {}) if keep else _insufficient(criteria, real, gaps, now)


def java_double(x: float) -> str:
    """Render a float the way Java's ``Double.toString`` does (CloudWatch is Java): 1.0, 15.39, 1.0E7."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    if 1e-3 <= abs(x) < 1e7:
        return repr(float(x))  # shortest round-trip digits, as Java 19+; plain notation in this range
    sign, digits, exponent = Decimal(repr(float(x))).as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits)).rstrip("0") or "0"
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{len(digits) + exponent - 1}"


def _reason_time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d/%m/%y %H:%M:%S")


def _data_time(ts: float) -> str:
    millis = math.floor(ts * 1000)
    moment = datetime.fromtimestamp(millis // 1000, UTC)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{millis % 1000:03d}+0000"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _was(count: int) -> str:
    return "was" if count == 1 else "were"


def _comparison_text(criteria: AlarmCriteria, listed: list[_Slot], negate: bool) -> str:
    not_ = "not " if negate else ""
    op = criteria.comparison
    if op not in BAND_OPERATORS:
        assert criteria.threshold is not None
        return f"{not_}{COMPARISON_WORDS[op]} the threshold ({java_double(criteria.threshold)})"

    def band(attr: str) -> str:
        return "[" + ", ".join(java_double(getattr(s.point, attr)) for s in listed) + "]"

    lower = f"{not_}less than the lower thresholds {band('lower')}" if op in _LOWER_OPS else ""
    upper = f"{not_}greater than the upper thresholds {band('upper')}" if op in _UPPER_OPS else ""
    return " or ".join(part for part in (lower, upper) if part)


def _base_data(criteria: AlarmCriteria, real: list[_Slot], now: float) -> dict[str, Any]:
    # Key order follows AWS's payloads: version, queryDate, startDate, unit, statistic, period, ...
    data: dict[str, Any] = {"version": "1.0", "queryDate": _data_time(now)}
    if real:
        data["startDate"] = _data_time(real[0].timestamp)
    if criteria.unit:
        data["unit"] = criteria.unit
    if criteria.statistic:
        data["statistic"] = criteria.statistic
    data["period"] = criteria.period
    data["recentDatapoints"] = [_val(s.point) for s in real]
    op = criteria.comparison
    if op in _LOWER_OPS:
        data["recentLowerThresholds"] = [_val(s.point, "lower") for s in real]
    if op in _UPPER_OPS:
        data["recentUpperThresholds"] = [_val(s.point, "upper") for s in real]
    if op not in BAND_OPERATORS and criteria.threshold is not None:
        data["threshold"] = float(criteria.threshold)
    return data


def _evaluated(slots: list[_Slot]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for s in slots:
        item: dict[str, Any] = {"timestamp": _data_time(s.timestamp)}
        if s.point is not None:
            if s.point.sample_count:  # metric-math results carry no sample count (AWS omits it)
                item["sampleCount"] = float(s.point.sample_count)
            item["value"] = _val(s.point)
        out.append(item)
    return out


def _decided(criteria: AlarmCriteria, state: AlarmState, window: list[_Slot], now: float) -> Evaluation:
    n, m = criteria.evaluation_periods, criteria.datapoints_to_alarm
    alarm = state == AlarmState.ALARM
    newest_first = window[::-1]
    # The reason lists the real points on the side that decided (breaching for ALARM, non-breaching for OK),
    # newest first; AWS's "1 out of the last 3 datapoints [-0.2 (...)] was not greater ..." shows only those.
    decisive = [s for s in newest_first if s.breaching == alarm]
    listed = [s for s in decisive if s.point is not None]
    filled = [s for s in window if s.point is None]
    label = "Breaching" if criteria.treat_missing == TreatMissingData.breaching else "NonBreaching"
    if not listed and filled:
        # AWS's all-missing wording; also used, (inferred), when only filled points are on the deciding side.
        f = len(filled)
        reason = (
            f"Threshold Crossed: no datapoints were received for {_plural(f, 'period')} "
            f"and {_plural(f, 'missing datapoint')} {_was(f)} treated as [{label}]."
        )
    else:
        k = len(listed)
        shown = ", ".join(f"{java_double(_val(s.point))} ({_reason_time(s.timestamp)})" for s in listed)
        head = "Thresholds Crossed" if criteria.comparison in BAND_OPERATORS else "Threshold Crossed"
        long = criteria.datapoints_to_alarm_set
        count = f"{k} out of the last {n} datapoints" if long else _plural(k, "datapoint")
        reason = f"{head}: {count} [{shown}] {_was(k)} {_comparison_text(criteria, listed, not alarm)}"
        if filled:
            f = len(filled)
            reason += f" and {_plural(f, 'missing datapoint')} {_was(f)} treated as [{label}]"
        if long:
            need, change = (m, "OK -> ALARM") if alarm else (n - m + 1, "ALARM -> OK")
            reason += f" (minimum {_plural(need, 'datapoint')} for {change} transition)"
        reason += "."
    real = [s for s in window if s.point is not None]
    data = _base_data(criteria, real, now)
    # evaluatedDatapoints: the newest points that suffice for the decision, M breaching for ALARM and
    # N-M+1 non-breaching for OK (matches every AWS payload seen; (inferred) beyond them).
    data["evaluatedDatapoints"] = _evaluated(decisive[: m if alarm else n - m + 1])
    return Evaluation(state, reason, data)


def _insufficient(criteria: AlarmCriteria, real: list[_Slot], gaps: list[int], now: float) -> Evaluation:
    n = criteria.evaluation_periods
    # "N datapoints were unknown" when all are missing (AWS payloads); otherwise the periods that would
    # have been filled (inferred).
    unknown = [_Slot(t, None, False) for t in gaps[len(gaps) - (n - len(real)) :]]
    data = _base_data(criteria, real, now)
    data["evaluatedDatapoints"] = _evaluated(sorted(real + unknown, key=lambda s: -s.timestamp))
    u = len(unknown)
    return Evaluation(
        AlarmState.INSUFFICIENT_DATA, f"Insufficient Data: {_plural(u, 'datapoint')} {_was(u)} unknown.", data
    )
