"""DescribeAlarmHistory: configuration, state and action items, kept after their alarm is deleted."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.services.clock import to_datetime
from sagemill.services.cloudwatch.errors import invalid_next_token
from sagemill.services.cloudwatch.periods import seconds
from sagemill.store.metrics import AlarmHistoryQuery, MetricStore


def _encode(timestamp: float, item_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([timestamp, item_id]).encode()).decode()


def _decode(token: str) -> tuple[float, str]:
    try:
        timestamp, item_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return float(timestamp), str(item_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise invalid_next_token() from exc


def operations(metrics: MetricStore) -> dict[str, Handler]:
    def describe_alarm_history(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        token = params.get("NextToken")
        query = AlarmHistoryQuery(
            context.account_id,
            context.region,
            alarm_name=params.get("AlarmName"),
            alarm_types=tuple(params.get("AlarmTypes") or ()),
            item_type=params.get("HistoryItemType"),
            start=seconds(params["StartDate"]) if params.get("StartDate") is not None else None,
            end=seconds(params["EndDate"]) if params.get("EndDate") is not None else None,
            newest_first=params.get("ScanBy", "TimestampDescending") == "TimestampDescending",
            after=_decode(token) if token else None,
            limit=int(params.get("MaxRecords") or 100),
        )
        items, more = metrics.list_history(query)
        result: dict[str, Any] = {
            "AlarmHistoryItems": [
                {
                    "AlarmName": item.alarm_name,
                    "AlarmType": item.alarm_type,
                    "Timestamp": to_datetime(item.timestamp),
                    "HistoryItemType": item.item_type,
                    "HistorySummary": item.summary,
                    "HistoryData": item.data,
                }
                for item in items
            ]
        }
        if more and items:
            result["NextToken"] = _encode(items[-1].timestamp, items[-1].item_id)
        return result

    return {"DescribeAlarmHistory": describe_alarm_history}
