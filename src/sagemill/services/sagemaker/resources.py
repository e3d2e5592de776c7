"""Create/describe/delete plumbing shared by SageMaker's named resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.domain.arns import sagemaker_arn
from sagemill.domain.errors import AlreadyExists
from sagemill.domain.resources import Resource, ResourceKey, Tag
from sagemill.services.clock import Clock
from sagemill.services.sagemaker.errors import already_exists, could_not_find
from sagemill.services.sagemaker.tags import check_tags, tags_from_wire
from sagemill.store.base import Store


def key_for(context: RequestContext, kind: str, name: str) -> ResourceKey:
    return ResourceKey(context.account_id, context.region, kind, name)


def arn_for(context: RequestContext, kind: str, name: str) -> str:
    return sagemaker_arn(kind, context.account_id, context.region, name)


def create(
    store: Store,
    clock: Clock,
    context: RequestContext,
    kind: str,
    name: str,
    params: Mapping[str, Any],
    *,
    status: str = "",
    next_action_at: float | None = None,
) -> Resource:
    """Store a new resource with its tags; the desired state is the request without Tags."""
    arn = arn_for(context, kind, name)
    tags: list[Tag] = tags_from_wire(params.get("Tags") or [])
    check_tags(tags)
    now = clock()
    desired = {k: v for k, v in params.items() if k != "Tags"}
    resource = Resource(
        key=key_for(context, kind, name),
        arn=arn,
        desired=_jsonable(desired),
        created_at=now,
        updated_at=now,
        status=status,
        next_action_at=next_action_at,
    )
    try:
        store.create_resource(resource, tags)
    except AlreadyExists as exc:
        raise already_exists(kind, arn) from exc
    return resource


def require(store: Store, context: RequestContext, kind: str, name: str) -> Resource:
    resource = store.get_resource(key_for(context, kind, name))
    if resource is None:
        raise could_not_find(kind, arn_for(context, kind, name))
    return resource


def delete(store: Store, context: RequestContext, kind: str, name: str) -> None:
    if not store.delete_resource(key_for(context, kind, name)):
        raise could_not_find(kind, arn_for(context, kind, name))


def _jsonable(value: Any) -> Any:
    """Requests hold datetimes and bytes after parsing; store them as JSON-friendly values."""
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "timestamp"):
        return value.timestamp()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value
