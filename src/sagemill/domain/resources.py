"""The stored form of every resource: desired state plus the reconciler's bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class SortOrder(StrEnum):
    ASCENDING = "Ascending"
    DESCENDING = "Descending"


class SortKey(StrEnum):
    NAME = "Name"
    CREATION_TIME = "CreationTime"
    STATUS = "Status"


@dataclass(frozen=True, slots=True)
class ResourceKey:
    """Where a resource lives: every resource is scoped by account and region."""

    account_id: str
    region: str
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource row.

    `desired` is the validated request that created (or last updated) it; `status`,
    `status_reason`, `version` and `next_action_at` belong to the reconcilers.
    """

    key: ResourceKey
    arn: str
    desired: dict[str, Any]
    created_at: float
    updated_at: float
    status: str = ""
    status_reason: str = ""
    version: int = 1
    next_action_at: float | None = None
    observed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResourceQuery:
    """A filtered, sorted page of one kind of resource in one account and region.

    `after` is the (sort value, name) of the last row of the previous page. As in SageMaker,
    `created_after` is inclusive and `created_before` exclusive.
    """

    account_id: str
    region: str
    kind: str
    name_contains: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    modified_after: float | None = None
    modified_before: float | None = None
    status: str | None = None
    sort_key: SortKey = SortKey.CREATION_TIME
    sort_order: SortOrder = SortOrder.DESCENDING
    limit: int = 10
    after: tuple[Any, str] | None = None


@dataclass(frozen=True, slots=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class AccessKey:
    """A long-term access key; the secret is only ever held decrypted in memory."""

    access_key_id: str
    account_id: str
    user_name: str
    status: str
    created_at: float
