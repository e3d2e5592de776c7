"""Create/describe/delete plumbing shared by SageMaker's named resources.

SageMaker names are case-insensitive: `MyModel` and `mymodel` are one resource, whose ARN carries
the lower-cased name while Describe reports the name as it was created. The ARN is therefore the
lookup key, and its uniqueness is what refuses a second create that differs only in case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.domain.arns import sagemaker_arn
from sagemill.domain.errors import AlreadyExists, NotFound, VersionConflict
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
    observed: dict[str, Any] | None = None,
    raise_existing: bool = True,
) -> Resource:
    """Store a new resource with its tags; the desired state is the request without Tags.

    A taken name raises SageMaker's "Cannot create already existing" error, or the domain's
    AlreadyExists when `raise_existing` is False (for resources whose API words it differently).
    """
    arn = arn_for(context, kind, name)
    tags: list[Tag] = tags_from_wire(params.get("Tags") or [])
    check_tags(tags)
    # SageMaker reports times to the millisecond; storing them so keeps a reported CreationTime
    # usable as an exact CreationTimeAfter/Before bound and as the value a NextToken resumes from.
    now = round(clock(), 3)
    desired = {k: v for k, v in params.items() if k != "Tags"}
    resource = Resource(
        key=key_for(context, kind, name),
        arn=arn,
        desired=_jsonable(desired),
        created_at=now,
        updated_at=now,
        status=status,
        next_action_at=next_action_at,
        observed=observed or {},
    )
    try:
        store.create_resource(resource, tags)
    except AlreadyExists as exc:
        if not raise_existing:
            raise
        raise already_exists(kind, arn) from exc
    return resource


def try_update(store: Store, resource: Resource, expected_version: int) -> bool:
    """Write `resource` if nobody changed it since `expected_version` was read."""
    try:
        store.update_resource(resource, expected_version)
    except (VersionConflict, NotFound):
        return False
    return True


def find(store: Store, context: RequestContext, kind: str, name: str) -> Resource | None:
    """The caller's resource of this kind and name, whatever the case of `name`."""
    resource = store.get_resource_by_arn(arn_for(context, kind, name))
    if resource is None or resource.key != key_for(context, kind, resource.key.name):
        return None
    return resource


def require(store: Store, context: RequestContext, kind: str, name: str) -> Resource:
    resource = find(store, context, kind, name)
    if resource is None:
        raise could_not_find(kind, arn_for(context, kind, name))
    return resource


def delete(store: Store, context: RequestContext, kind: str, name: str) -> None:
    resource = find(store, context, kind, name)
    if resource is None or not store.delete_resource(resource.key):
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
