"""GetMetricData: metric stats and metric-math expressions over one range, paginated by datapoints."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.domain.metric_math import MathError, parse, referenced_ids
from sagemill.metrics.expressions import QueryError, dependency_order, run_queries
from sagemill.services.clock import Clock, to_datetime
from sagemill.services.cloudwatch.errors import invalid_combination, invalid_next_token, validation
from sagemill.services.cloudwatch.periods import aligned_start, check_period, check_range, seconds
from sagemill.services.cloudwatch.statistics import check_extended
from sagemill.store.metrics import MetricStore

MAX_QUERIES = 500
MAX_DATAPOINTS = 100_800
_ID = re.compile(r"[a-z][a-zA-Z0-9_]*")


def check_queries(queries: Sequence[Mapping[str, Any]], member: str = "MetricDataQueries") -> None:
    """CloudWatch's rules for a list of MetricDataQuery (GetMetricData and metric-math alarms)."""
    seen: set[str] = set()
    for index, query in enumerate(queries, start=1):
        ident = query["Id"]
        if not _ID.fullmatch(ident):
            raise validation(
                f"The value {ident} for parameter {member}.member.{index}.Id is not valid: it must start "
                "with a lowercase letter and contain only letters, numbers and underscores."
            )
        if ident in seen:
            raise validation(f"The value {ident} for parameter {member}.member.{index}.Id is a duplicate.")
        seen.add(ident)
        has_stat, has_expression = query.get("MetricStat") is not None, query.get("Expression") is not None
        if has_stat == has_expression:
            raise invalid_combination(
                f"Exactly one of MetricStat and Expression must be given in {member}.member.{index}."
            )
        if has_stat:
            stat = query["MetricStat"]
            check_period(int(stat["Period"]), f"{member}.member.{index}.MetricStat.Period")
            if not _is_basic(stat["Stat"]):
                check_extended([stat["Stat"]], f"{member}.member.{index}.MetricStat.Stat")
        else:
            try:
                used = referenced_ids(parse(query["Expression"]))
            except MathError as exc:
                raise validation(f"Error in expression {ident}: {exc}") from exc
            unknown = sorted(used - {q["Id"] for q in queries})
            if unknown:
                raise validation(f"Error in expression {ident}: Unrecognized metric id {unknown[0]}.")
    try:
        dependency_order(queries)
    except QueryError as exc:
        raise validation(f"Error in expression {exc.query_id}: {exc}") from exc


def _is_basic(stat: str) -> bool:
    return stat in ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def _encode(offsets: list[int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(offsets).encode()).decode()


def _decode(token: str, count: int) -> list[int]:
    try:
        offsets = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error) as exc:
        raise invalid_next_token() from exc
    if not isinstance(offsets, list) or len(offsets) != count or not all(isinstance(o, int) for o in offsets):
        raise invalid_next_token()
    return [int(o) for o in offsets]


def operations(store: MetricStore, clock: Clock) -> dict[str, Handler]:
    def get_metric_data(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queries = params["MetricDataQueries"]
        if len(queries) > MAX_QUERIES:
            raise validation(
                f"The collection MetricDataQueries must not have more than {MAX_QUERIES} members."
            )
        check_queries(queries)
        start_s, end_s = seconds(params["StartTime"]), seconds(params["EndTime"])
        check_range(start_s, end_s)
        periods = [int(q["MetricStat"]["Period"]) for q in queries if q.get("MetricStat")]
        start = aligned_start(start_s, min(periods) if periods else 60, clock())
        end = math.ceil(end_s)
        try:
            ran = run_queries(store, context.account_id, context.region, queries, start, end)
        except QueryError as exc:
            raise validation(f"Error in expression {exc.query_id}: {exc}") from exc
        results = [r for r in ran if r.return_data]
        descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        budget = int(params.get("MaxDatapoints") or MAX_DATAPOINTS)
        token = params.get("NextToken")
        offsets = _decode(token, len(results)) if token else [0] * len(results)
        out, next_offsets = [], []
        for result, offset in zip(results, offsets, strict=True):
            pairs = list(zip(result.series.timestamps, result.series.values, strict=True))
            if descending:
                pairs.reverse()
            page = pairs[offset : offset + budget]
            budget -= len(page)
            next_offsets.append(offset + len(page))
            out.append(
                {
                    "Id": result.id,
                    "Label": result.label,
                    "Timestamps": [to_datetime(t) for t, _ in page],
                    "Values": [v for _, v in page],
                    "StatusCode": "Complete" if offset + len(page) >= len(pairs) else "PartialData",
                }
            )
        reply: dict[str, Any] = {"MetricDataResults": out, "Messages": []}
        if any(r["StatusCode"] == "PartialData" for r in out):
            reply["NextToken"] = _encode(next_offsets)
        return reply

    return {"GetMetricData": get_metric_data}
