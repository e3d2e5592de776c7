"""GetMetricStatistics: basic and extended statistics of one metric, one datapoint per period."""

from __future__ import annotations

import math
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.domain.statistics import StatisticError, parse_extended_statistic
from sagemill.metrics.query import read_statistics
from sagemill.services.clock import Clock, to_datetime
from sagemill.services.cloudwatch.errors import invalid_combination, invalid_value, missing_parameter
from sagemill.services.cloudwatch.ingest import metric_key
from sagemill.services.cloudwatch.periods import aligned_start, check_period, check_range, seconds
from sagemill.store.metrics import MetricStore

MAX_DATAPOINTS = 1440


def check_extended(names: list[str], member: str) -> None:
    for name in names:
        try:
            parse_extended_statistic(name)
        except StatisticError as exc:
            raise invalid_value(f"The value {name} for parameter {member} is not valid. {exc}") from exc


def operations(store: MetricStore, clock: Clock) -> dict[str, Handler]:
    def get_metric_statistics(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        statistics = list(params.get("Statistics") or [])
        extended = list(params.get("ExtendedStatistics") or [])
        if statistics and extended:
            raise invalid_combination("Must specify either Statistics or ExtendedStatistics, but not both.")
        if not statistics and not extended:
            raise missing_parameter("Must specify either Statistics or ExtendedStatistics.")
        check_extended(extended, "ExtendedStatistics")
        period = check_period(int(params["Period"]))
        start_s, end_s = seconds(params["StartTime"]), seconds(params["EndTime"])
        check_range(start_s, end_s)
        start = aligned_start(start_s, period, clock())
        end = math.ceil(end_s)
        requested = math.ceil((end - start) / period)
        if requested > MAX_DATAPOINTS:
            raise invalid_combination(
                f"You have requested up to {requested:,} datapoints, which exceeds the limit of "
                f"{MAX_DATAPOINTS:,}. You may reduce the datapoints requested by increasing Period, "
                "or decreasing the time range."
            )
        key = metric_key(context, params["Namespace"], params["MetricName"], params.get("Dimensions"))
        unit = params.get("Unit")
        rows = read_statistics(store, [key], start, end, period, statistics + extended, unit)[key]
        datapoints = []
        for row in rows:
            point: dict[str, Any] = {"Timestamp": to_datetime(row.start), "Unit": unit or row.unit}
            for name in statistics:
                point[name] = row.values[name]
            if extended:
                point["ExtendedStatistics"] = {n: row.values[n] for n in extended if n in row.values}
            datapoints.append(point)
        return {"Label": params["MetricName"], "Datapoints": datapoints}

    return {"GetMetricStatistics": get_metric_statistics}
