"""Failure categories a runner reports, named as SageMaker prefixes its FailureReason."""

from __future__ import annotations

from typing import ClassVar


class RunnerError(Exception):
    """A failure the runner explains in the failure file; `category` starts its first line."""

    category: ClassVar[str] = "AlgorithmError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def failure_text(self) -> str:
        return f"{self.category}: {self.message}"


class UserError(RunnerError):
    """The job's configuration or data is wrong; the user can fix it (SageMaker's `ClientError`)."""

    category = "ClientError"


class AlgorithmError(RunnerError):
    """The algorithm itself failed on input it accepted."""

    category = "AlgorithmError"


class PlatformError(RunnerError):
    """The job directory or environment the platform prepared is broken, not the user's doing."""

    # SageMaker reports platform faults as InternalServerError, the only category RetryStrategy retries.
    category = "InternalServerError"
