"""MetricDataQuery evaluation: metric stats read from the store, then math expressions in dependency order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sagemill.domain.metric_math import MathError, TimeSeries, evaluate, parse, referenced_ids
from sagemill.metrics.query import read_statistics
from sagemill.store.metrics import MetricKey, MetricStore


@dataclass(frozen=True, slots=True)
class QueryResult:
    id: str
    label: str
    series: TimeSeries
    return_data: bool


class QueryError(ValueError):
    """A query cannot be evaluated; `query_id` names it."""

    def __init__(self, query_id: str, message: str) -> None:
        super().__init__(message)
        self.query_id = query_id


def dependency_order(queries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Queries in dependency order: every expression after the queries it reads; QueryError on a cycle."""
    by_id = {q["Id"]: q for q in queries}
    done: dict[str, Mapping[str, Any]] = {}
    visiting: set[str] = set()

    def visit(ident: str) -> None:
        if ident in done:
            return
        if ident in visiting:
            raise QueryError(ident, "Circular dependency between expressions.")
        visiting.add(ident)
        query = by_id[ident]
        if query.get("Expression") is not None:
            try:
                used = referenced_ids(parse(query["Expression"]))
            except MathError as exc:
                raise QueryError(ident, str(exc)) from exc
            for name in sorted(used):
                if name in by_id:
                    visit(name)
        visiting.discard(ident)
        done[ident] = query

    for query in queries:
        visit(query["Id"])
    return list(done.values())


def run_queries(
    store: MetricStore,
    account_id: str,
    region: str,
    queries: Sequence[Mapping[str, Any]],
    start: int,
    end: int,
) -> list[QueryResult]:
    """Evaluate every query over [start, end); results in request order (array results flattened)."""
    env: dict[str, TimeSeries] = {}
    produced: dict[str, list[QueryResult]] = {}
    periods = [int(q["MetricStat"]["Period"]) for q in queries if q.get("MetricStat")]
    fallback = max(periods) if periods else 60
    # METRICS() reads metric queries only, never other expressions' results.
    metric_ids = frozenset(q["Id"] for q in queries if q.get("MetricStat"))
    for query in dependency_order(queries):
        ident = query["Id"]
        label = query.get("Label")
        return_data = bool(query.get("ReturnData", True))
        if query.get("MetricStat") is not None:
            series = _metric_stat(store, account_id, region, query["MetricStat"], start, end, label)
            results = [QueryResult(ident, series.label, series, return_data)]
            env[ident] = series
        else:
            period = int(query.get("Period") or fallback)
            try:
                value = evaluate(parse(query["Expression"]), env, period, start, end, metric_ids=metric_ids)
            except MathError as exc:
                raise QueryError(ident, str(exc)) from exc
            results = _expression_results(ident, label, value, start, end, period, return_data)
            if len(results) == 1:
                env[ident] = results[0].series
        produced[ident] = results
    return [r for q in queries for r in produced[q["Id"]]]


def _metric_stat(
    store: MetricStore,
    account_id: str,
    region: str,
    stat: Mapping[str, Any],
    start: int,
    end: int,
    label: str | None,
) -> TimeSeries:
    metric = stat["Metric"]
    dimensions = tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions") or []))
    key = MetricKey(account_id, region, metric.get("Namespace", ""), metric.get("MetricName", ""), dimensions)
    period = int(stat["Period"])
    name = stat["Stat"]
    rows = read_statistics(store, [key], start, end, period, [name], stat.get("Unit"))[key]
    points = [(row.start, row.values[name]) for row in rows if name in row.values]
    return TimeSeries(
        label or key.metric_name,
        tuple(t for t, _ in points),
        tuple(v for _, v in points),
        id=key.metric_name,
    )


def _expression_results(
    ident: str, label: str | None, value: Any, start: int, end: int, period: int, return_data: bool
) -> list[QueryResult]:
    if isinstance(value, TimeSeries):
        return [QueryResult(ident, label or ident, value, return_data)]
    if isinstance(value, tuple):
        return [QueryResult(ident, label or s.label or ident, s, return_data) for s in value]
    # A scalar is drawn as a constant line over the whole range, one point per period.
    stamps = tuple(range(start, end, period))
    series = TimeSeries(label or ident, stamps, tuple(float(value) for _ in stamps))
    return [QueryResult(ident, label or ident, series, return_data)]
