"""The Store port: durable, transactional state for every resource, tag, account and key.

Contract, for every adapter:
- Each method is one transaction: it commits before returning, or changes nothing and raises.
- Methods are thread-safe; callers share one Store across request threads and reconcilers.
- `create_resource` raises AlreadyExists when the (account, region, kind, name) key is taken —
  also when two callers race; `update_resource` raises VersionConflict when the row's version is
  not the one the caller read, and NotFound when the row is gone. `update_resources` writes a batch
  in one transaction, item by item in order, skipping (None) each item that either would raise.
- Deleting a resource deletes its tags in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sagemill.domain.resources import (
    AccessKey,
    Account,
    Resource,
    ResourceKey,
    ResourceQuery,
    Tag,
)


class Store(Protocol):
    """Durable state; see the module docstring for the contract."""

    def create_resource(self, resource: Resource, tags: list[Tag]) -> None: ...

    def get_resource(self, key: ResourceKey) -> Resource | None: ...

    def get_resource_by_arn(self, arn: str) -> Resource | None: ...

    def update_resource(self, resource: Resource, expected_version: int) -> Resource:
        """Write `resource` if the stored version is `expected_version`; returns the row at version+1."""
        ...

    def update_resources(self, items: Sequence[tuple[Resource, int]]) -> list[Resource | None]:
        """`update_resource` for each (resource, expected_version), in order, all in one transaction.

        An item whose row is gone or not at its expected version is skipped and reads None; the others
        are written and read back at version+1. One commit for the batch is what makes it cheaper than
        as many `update_resource` calls.
        """
        ...

    def delete_resource(self, key: ResourceKey) -> bool: ...

    def list_resources(self, query: ResourceQuery) -> tuple[list[Resource], bool]:
        """One page and whether more rows follow it."""
        ...

    def due_resources(self, kind: str, now: float, limit: int) -> list[Resource]:
        """Rows of a kind whose next_action_at has come, oldest first (for reconcilers)."""
        ...

    def count_by_status(self, kind: str) -> dict[str, int]:
        """How many rows of a kind are in each status, across every account (operators' dashboards)."""
        ...

    def next_action_time(self, kind: str) -> float | None:
        """The earliest next_action_at of a kind, due or not; None when no row of it is scheduled."""
        ...

    def set_tags(self, arn: str, tags: list[Tag]) -> None:
        """Add or overwrite tags on an ARN."""
        ...

    def remove_tags(self, arn: str, keys: list[str]) -> None: ...

    def list_tags(self, arn: str, after_key: str | None, limit: int) -> tuple[list[Tag], bool]: ...

    def count_tags(self, arn: str) -> int: ...

    def create_account(self, account: Account) -> None: ...

    def get_account(self, account_id: str) -> Account | None: ...

    def create_access_key(self, key: AccessKey, secret_ciphertext: bytes) -> None: ...

    def get_access_key(self, access_key_id: str) -> tuple[AccessKey, bytes] | None: ...

    def close(self) -> None: ...
