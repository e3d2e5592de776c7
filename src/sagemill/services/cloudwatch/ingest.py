"""PutMetricData: CloudWatch's checks on every datum, then one batch of samples into the metric store."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.services.clock import Clock
from sagemill.services.cloudwatch.errors import invalid_combination, invalid_value
from sagemill.store.metrics import MetricKey, MetricStore, Sample

MAX_VALUES = 150
PAST_SECONDS = 14 * 86_400
FUTURE_SECONDS = 2 * 3600
# CloudWatch rejects magnitudes it cannot store (its docs: 8.515920e-109 to 1.174271e+108, and 0).
_MIN_MAGNITUDE = 8.515920e-109
_MAX_MAGNITUDE = 1.174271e108


def dimension_pairs(dimensions: Sequence[Mapping[str, Any]] | None) -> tuple[tuple[str, str], ...]:
    """The wire's Dimensions list as the sorted (name, value) pairs a MetricKey holds."""
    return tuple(sorted((str(d["Name"]), str(d["Value"])) for d in dimensions or ()))


def dimensions_to_wire(pairs: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in pairs]


def metric_key(context: RequestContext, namespace: str, name: str, dimensions: Any) -> MetricKey:
    return MetricKey(context.account_id, context.region, namespace, name, dimension_pairs(dimensions))


def _check_number(value: float, member: str) -> float:
    if not math.isfinite(value):
        shown = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        raise invalid_value(f"The value {shown} for parameter {member} is invalid.")
    if value != 0 and not _MIN_MAGNITUDE <= abs(value) <= _MAX_MAGNITUDE:
        raise invalid_value(f"The value {value} for parameter {member} is invalid.")
    return float(value)


def _check_dimensions(dimensions: Sequence[Mapping[str, Any]], member: str) -> None:
    seen: set[str] = set()
    for index, dimension in enumerate(dimensions, start=1):
        name = dimension["Name"]
        if name in seen:
            raise invalid_combination(f"No metric may have duplicate dimension names ({member}.{index}).")
        seen.add(name)


def _timestamp(datum: Mapping[str, Any], now: float, member: str) -> int:
    stamp = datum.get("Timestamp")
    if stamp is None:
        return int(now)
    seconds = stamp.timestamp() if isinstance(stamp, datetime) else float(stamp)
    if seconds < now - PAST_SECONDS or seconds > now + FUTURE_SECONDS:
        raise invalid_value(
            f"The parameter {member}.Timestamp must specify a time no more than two weeks in the past "
            "and no more than two hours in the future."
        )
    return int(seconds)


def samples_of(datum: Mapping[str, Any], now: float, member: str) -> list[Sample]:
    """The samples one MetricDatum stands for; raises CloudWatch's errors for a bad datum."""
    unit = datum.get("Unit") or "None"
    resolution = datum.get("StorageResolution")
    if resolution is not None and resolution not in (1, 60):
        raise invalid_value(f"The value {resolution} for parameter {member}.StorageResolution is invalid.")
    _check_dimensions(datum.get("Dimensions") or [], f"{member}.Dimensions")
    timestamp = _timestamp(datum, now, member)
    if resolution == 60:
        timestamp -= timestamp % 60  # standard resolution: CloudWatch keeps minute granularity
    given = [name for name in ("Value", "StatisticValues", "Values") if datum.get(name) is not None]
    if len(given) > 1:
        raise invalid_combination(
            f"The parameters {member}.{given[0]} and {member}.{given[1]} are mutually exclusive "
            "and you have specified both."
        )
    if datum.get("Counts") is not None and datum.get("Values") is None:
        raise invalid_combination(f"The parameter {member}.Counts requires {member}.Values.")
    if datum.get("StatisticValues") is not None:
        return [_statistic_set(datum["StatisticValues"], timestamp, unit, f"{member}.StatisticValues")]
    if datum.get("Values") is not None:
        return _values(datum, timestamp, unit, member)
    value = _check_number(float(datum.get("Value", 0.0)), f"{member}.Value")
    return [Sample(timestamp, 1.0, value, value, value, value, unit)]


def _statistic_set(stats: Mapping[str, Any], timestamp: int, unit: str, member: str) -> Sample:
    count = _check_number(float(stats["SampleCount"]), f"{member}.SampleCount")
    total = _check_number(float(stats["Sum"]), f"{member}.Sum")
    low = _check_number(float(stats["Minimum"]), f"{member}.Minimum")
    high = _check_number(float(stats["Maximum"]), f"{member}.Maximum")
    if count <= 0:
        raise invalid_value(f"The value {count} for parameter {member}.SampleCount is invalid.")
    if low > high:
        raise invalid_value(f"The parameter {member}.Minimum must not be greater than {member}.Maximum.")
    # Observations are known only when they are all equal: then percentiles can use them.
    known = low if (low == high or count == 1) else None
    return Sample(timestamp, count, total, low, high, known, unit)


def _values(datum: Mapping[str, Any], timestamp: int, unit: str, member: str) -> list[Sample]:
    values = datum["Values"]
    counts = datum.get("Counts")
    if len(values) > MAX_VALUES:
        raise invalid_value(f"The collection {member}.Values must not have a size greater than {MAX_VALUES}.")
    if counts is not None and len(counts) != len(values):
        raise invalid_value(f"The parameters {member}.Values and {member}.Counts must be of the same size.")
    samples = []
    for index, raw in enumerate(values, start=1):
        value = _check_number(float(raw), f"{member}.Values.member.{index}")
        count = 1.0 if counts is None else _check_number(float(counts[index - 1]), f"{member}.Counts")
        if count < 0:
            raise invalid_value(f"The value {count} for parameter {member}.Counts.member.{index} is invalid.")
        if count > 0:
            samples.append(Sample(timestamp, count, value * count, value, value, value, unit))
    return samples


def operations(store: MetricStore, clock: Clock) -> dict[str, Handler]:
    def put_metric_data(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        namespace = params["Namespace"]
        if namespace.startswith("AWS/"):
            raise invalid_value(f"The value {namespace} for parameter Namespace is invalid.")
        data = params.get("MetricData") or []
        if not data and not params.get("EntityMetricData"):
            raise invalid_value("The parameter MetricData is required.")
        if len(data) > 1000:
            raise invalid_value("The collection MetricData must not have a size greater than 1000.")
        now = clock()
        batch: list[tuple[MetricKey, Sample]] = []
        for index, datum in enumerate(data, start=1):
            member = f"MetricData.member.{index}"
            key = metric_key(context, namespace, datum["MetricName"], datum.get("Dimensions"))
            batch.extend((key, sample) for sample in samples_of(datum, now, member))
        # Everything was checked before anything is stored: a bad datum stores nothing.
        if batch:
            store.put_samples(batch)
        return {}

    return {"PutMetricData": put_metric_data}
