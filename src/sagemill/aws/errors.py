"""AWS-shaped errors: every failure the wire layer or a service reports is a ServiceError.

ServiceError(code, message, status, sender_fault, fields)
  ├── ValidationError          400 ValidationException (model-driven validation)
  ├── SerializationError       400 SerializationException (body cannot be decoded)
  ├── UnknownOperationError    400 UnknownOperationException / InvalidAction
  ├── AuthError                403 (code chosen per service family)
  └── InternalFailure          500 (never carries a traceback)
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error answered to the client in the caller's protocol.

    `fields` holds extra members of a modelled error shape (e.g. ModelError's OriginalStatusCode);
    `query_code` is the legacy code sent in `x-amzn-query-error` for query-compatible services.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        *,
        sender_fault: bool = True,
        fields: dict[str, Any] | None = None,
        query_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault
        self.fields = dict(fields or {})
        self.query_code = query_code
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message!r}, {self.status})"


class ValidationError(ServiceError):
    """One or more model constraints failed, worded as AWS words them."""

    def __init__(self, problems: list[str]) -> None:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        message = f"{count} validation {noun} detected: " + "; ".join(problems)
        super().__init__("ValidationException", message)
        self.problems = problems


class SerializationError(ServiceError):
    """The request body could not be decoded in the service's protocol."""

    def __init__(self, message: str) -> None:
        super().__init__("SerializationException", message)


class InternalFailure(ServiceError):
    """An unexpected server fault; the message never includes internals."""

    def __init__(self, message: str = "We encountered an internal error. Please try again.") -> None:
        super().__init__("InternalFailure", message, 500, sender_fault=False)


def not_implemented(operation: str) -> ServiceError:
    """The error for a modelled operation Sagemill does not implement (yet)."""
    return ServiceError(
        "NotImplementedException",
        f"The operation {operation} is not supported by Sagemill yet.",
        501,
        sender_fault=False,
    )
