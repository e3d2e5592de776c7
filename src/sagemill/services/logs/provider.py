"""The CloudWatch Logs provider (client `logs`, AWS JSON 1.1, target prefix Logs_20140328).

Composes the per-noun modules: groups, streams, events and tags. The platform's own jobs write
through `writer.LogWriter`; `retention.purge_expired` reclaims expired events.

LIMITATIONS:
- Filter patterns: terms, quoted phrases, ?OR terms and -exclusions only (see filter_pattern.py);
  terms match as case-sensitive substrings. JSON, space-delimited and regex patterns are refused
  with InvalidParameterException.
- FilterLogEvents returns no searchedLogStreams (deprecated by AWS) and ignores `interleaved`
  (AWS always interleaves); `unmask` and data protection are not emulated.
- No metric filters, subscription filters, Insights queries, Live Tail, exports, destinations,
  resource policies, anomaly detection, transformers or account policies (NotImplemented).
- KMS keys are recorded and reported, never checked or used; log group classes are recorded only.
- Cross-account observability (linked accounts in DescribeLogGroups, other accounts' ARNs) is not
  supported: every request sees only its own account and region.
- Retention hides expired events at once; their space is reclaimed when `purge_expired` runs.
  storedBytes counts uncompressed UTF-8 message bytes.
- Events are ordered by (timestamp, arrival); an event appended with a timestamp before a reader's
  forward position is not delivered to that reader (it is found by a fresh read).
- Model-level constraint failures (lengths, patterns, ranges) are answered by the gateway as
  ValidationException, where AWS Logs says InvalidParameterException.
"""

from __future__ import annotations

from sagemill.aws.dispatch import Handler
from sagemill.services.clock import Clock
from sagemill.services.logs import events, groups, streams, tags
from sagemill.store.logs import LogStore


def operations(store: LogStore, clock: Clock) -> dict[str, Handler]:
    return {
        **groups.operations(store, clock),
        **streams.operations(store, clock),
        **events.operations(store, clock),
        **tags.operations(store),
    }
