"""List* requests: filters, sort, MaxResults and opaque NextToken pagination shared by every resource."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.domain.resources import Resource, ResourceQuery, SortKey, SortOrder
from sagemill.services.clock import to_seconds
from sagemill.services.sagemaker.errors import validation
from sagemill.store.base import Store

DEFAULT_MAX_RESULTS = 10


def encode_token(payload: Mapping[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(token: str, expected: Mapping[str, Any]) -> dict[str, Any]:
    """A token's payload; ValidationException when it is garbled or from a different query."""
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise validation("Invalid pagination token.") from exc
    if not isinstance(payload, dict) or any(payload.get(k) != v for k, v in expected.items()):
        raise validation("Invalid pagination token: it belongs to a different list request.")
    return payload


def list_page(
    store: Store,
    context: RequestContext,
    kind: str,
    params: Mapping[str, Any],
    summary: Callable[[Resource], dict[str, Any]],
    result_key: str,
) -> dict[str, Any]:
    """Run a SageMaker List* request over one kind of resource and shape the answer."""
    sort_key = SortKey(params.get("SortBy", SortKey.CREATION_TIME.value))
    sort_order = SortOrder(params.get("SortOrder", SortOrder.DESCENDING.value))
    limit = int(params.get("MaxResults") or DEFAULT_MAX_RESULTS)
    created_after = params.get("CreationTimeAfter")
    created_before = params.get("CreationTimeBefore")
    name_contains = params.get("NameContains")
    # A token resumes only the list it came from: same kind of resource, same sort, same filter.
    binding = {
        "t": kind,
        "s": sort_key.value,
        "o": sort_order.value,
        "n": name_contains or "",
        "f": params.get("StatusEquals") or "",
    }
    after = None
    if params.get("NextToken"):
        payload = decode_token(params["NextToken"], binding)
        after_value = payload.get("v")
        after_name = payload.get("k")
        value_ok = (
            isinstance(after_value, str)
            if sort_key in (SortKey.NAME, SortKey.STATUS)
            else isinstance(after_value, int | float)
            and not isinstance(after_value, bool)
            and math.isfinite(after_value)
        )
        if not isinstance(after_name, str) or not value_ok:
            raise validation("Invalid pagination token.")
        after = (after_value, after_name)
    query = ResourceQuery(
        account_id=context.account_id,
        region=context.region,
        kind=kind,
        name_contains=name_contains,
        created_after=to_seconds(created_after) if created_after else None,
        created_before=to_seconds(created_before) if created_before else None,
        modified_after=_seconds(params.get("LastModifiedTimeAfter")),
        modified_before=_seconds(params.get("LastModifiedTimeBefore")),
        status=params.get("StatusEquals"),
        sort_key=sort_key,
        sort_order=sort_order,
        limit=limit,
        after=after,
    )
    page, more = store.list_resources(query)
    result: dict[str, Any] = {result_key: [summary(r) for r in page]}
    if more and page:
        last = page[-1]
        value: Any = {SortKey.NAME: last.key.name, SortKey.STATUS: last.status}.get(sort_key, last.created_at)
        result["NextToken"] = encode_token({**binding, "v": value, "k": last.key.name})
    return result


def _seconds(value: Any) -> float | None:
    return to_seconds(value) if value else None
