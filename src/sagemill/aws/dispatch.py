"""Operation name → the service handler that answers it; filled by the composition root."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sagemill.aws.context import RequestContext

Handler = Callable[[RequestContext, dict[str, Any]], Mapping[str, Any]]
"""A service handler: validated params in, the output shape's members out; raises ServiceError."""


class Dispatcher:
    """Handlers keyed by (client name, operation name)."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str], Handler] = {}

    def register(self, service: str, operations: Mapping[str, Handler]) -> None:
        for operation, handler in operations.items():
            self._handlers[(service, operation)] = handler

    def lookup(self, service: str, operation: str) -> Handler | None:
        return self._handlers.get((service, operation))

    def operations(self, service: str) -> list[str]:
        return sorted(op for (svc, op) in self._handlers if svc == service)

    def services(self) -> list[str]:
        return sorted({svc for (svc, _) in self._handlers})
