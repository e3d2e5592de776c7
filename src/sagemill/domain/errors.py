"""Domain failures, mapped to AWS errors by each service."""

from __future__ import annotations


class DomainError(Exception):
    """Base of the domain's own failures."""


class AlreadyExists(DomainError):
    """A resource with this key already exists."""


class NotFound(DomainError):
    """No resource has this key."""


class VersionConflict(DomainError):
    """The row changed since it was read (optimistic locking)."""
