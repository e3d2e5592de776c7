"""Log group and log stream ARNs, and the identifiers (name or ARN) that Logs operations accept."""

from __future__ import annotations

from sagemill.aws.context import RequestContext
from sagemill.store.logs import LogGroupKey

PARTITION = "aws"


def group_arn(key: LogGroupKey) -> str:
    """`logGroupArn`: the form tagging APIs and `logGroupIdentifier` take."""
    return f"arn:{PARTITION}:logs:{key.region}:{key.account_id}:log-group:{key.name}"


def group_arn_wildcard(key: LogGroupKey) -> str:
    """`arn`: the older form with a trailing `:*`, as IAM policies use it."""
    return f"{group_arn(key)}:*"


def stream_arn(key: LogGroupKey, stream: str) -> str:
    return f"{group_arn(key)}:log-stream:{stream}"


def parse_group_arn(text: str) -> LogGroupKey | None:
    """The group an ARN names (a trailing `:*` allowed), or None when it is no log group ARN."""
    parts = text.split(":", 6)
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "logs" or parts[5] != "log-group":
        return None
    name = parts[6].removesuffix(":*")
    if not name or ":" in name:
        return None
    return LogGroupKey(parts[4], parts[3], name)


def group_key_for(context: RequestContext, identifier: str) -> LogGroupKey | None:
    """The caller's group named by a name or an ARN; None for an ARN of another account or region."""
    if not identifier.startswith("arn:"):
        return LogGroupKey(context.account_id, context.region, identifier)
    key = parse_group_arn(identifier)
    if key is None or key.account_id != context.account_id or key.region != context.region:
        return None
    return key
