"""The CloudWatch provider (client `cloudwatch`): AWS JSON 1.0 for current boto3, query for older clients.

Composes the per-noun modules: ingest (PutMetricData), statistics, metric_data (GetMetricData and
metric math), listing, alarms, history and tags. Alarms are evaluated by `control.alarms`.

LIMITATIONS:
- Smithy RPC v2 CBOR (the Go SDK v2's protocol) is not spoken; JSON 1.0 and query are.
- Anomaly detection (bands, ANOMALY_DETECTION_BAND, anomaly detectors), Metrics Insights queries,
  PromQL alarms, dashboards, metric streams, insight rules, alarm mute rules and contributor
  insights are not implemented.
- Alarm actions run SNS topics only; EC2, Auto Scaling, Systems Manager and Lambda actions are
  recorded in history as failed.
- Metric data is kept at 1-second resolution for the configured retention; there is no roll-up to
  coarser periods. ListMetrics shows a metric as soon as it has data.
- Composite alarms' ActionsSuppressor fields are stored and reported, not applied.
"""

from __future__ import annotations

from sagemill.aws.dispatch import Handler
from sagemill.metrics.alarm_records import Publish
from sagemill.services.clock import Clock
from sagemill.services.cloudwatch import alarms, history, ingest, listing, metric_data, statistics, tags
from sagemill.store.base import Store
from sagemill.store.metrics import MetricStore


def operations(
    store: Store, metrics: MetricStore, clock: Clock, publish: Publish | None = None
) -> dict[str, Handler]:
    return {
        **ingest.operations(metrics, clock),
        **statistics.operations(metrics, clock),
        **metric_data.operations(metrics, clock),
        **listing.operations(metrics, clock),
        **alarms.operations(store, metrics, clock, publish),
        **history.operations(metrics),
        **tags.operations(store),
    }
