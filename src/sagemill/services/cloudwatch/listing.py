"""ListMetrics: metric identities by namespace, name and dimension filters, 500 per page."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.services.clock import Clock
from sagemill.services.cloudwatch.errors import invalid_next_token, invalid_value
from sagemill.services.cloudwatch.ingest import dimensions_to_wire
from sagemill.store.metrics import MetricFilter, MetricKey, MetricStore

PAGE_SIZE = 500
RECENTLY_ACTIVE_SECONDS = 3 * 3600
# ListMetrics hides metrics that received nothing for two weeks, as CloudWatch does.
IDLE_SECONDS = 14 * 86_400


def _encode(key: MetricKey) -> str:
    raw = json.dumps([key.namespace, key.metric_name, key.dimensions], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(token: str, context: RequestContext) -> MetricKey:
    try:
        namespace, name, dimensions = json.loads(base64.urlsafe_b64decode(token.encode()))
        pairs = tuple((str(n), str(v)) for n, v in dimensions)
        return MetricKey(context.account_id, context.region, str(namespace), str(name), pairs)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise invalid_next_token() from exc


def operations(store: MetricStore, clock: Clock) -> dict[str, Handler]:
    def list_metrics(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        recently = params.get("RecentlyActive")
        if recently is not None and recently != "PT3H":
            raise invalid_value(f"The value {recently} for parameter RecentlyActive is not valid.")
        now = int(clock())
        active_since = now - (RECENTLY_ACTIVE_SECONDS if recently else IDLE_SECONDS)
        filters = tuple((d["Name"], d.get("Value")) for d in params.get("Dimensions") or [])
        query = MetricFilter(
            context.account_id,
            context.region,
            namespace=params.get("Namespace"),
            metric_name=params.get("MetricName"),
            dimensions=filters,
            active_since=active_since,
        )
        token = params.get("NextToken")
        after = _decode(token, context) if token else None
        keys, more = store.list_metrics(query, after, PAGE_SIZE)
        result: dict[str, Any] = {
            "Metrics": [
                {
                    "Namespace": k.namespace,
                    "MetricName": k.metric_name,
                    "Dimensions": dimensions_to_wire(k.dimensions),
                }
                for k in keys
            ]
        }
        if more and keys:
            result["NextToken"] = _encode(keys[-1])
        return result

    return {"ListMetrics": list_metrics}
