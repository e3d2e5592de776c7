"""CloudWatch Logs' error wording: its codes and the messages AWS answers with."""

from __future__ import annotations

from sagemill.aws.errors import ServiceError

GROUP_NOT_FOUND = "The specified log group does not exist."
STREAM_NOT_FOUND = "The specified log stream does not exist."
GROUP_EXISTS = "The specified log group already exists."
STREAM_EXISTS = "The specified log stream already exists."
INVALID_TOKEN = "The specified nextToken is invalid."


def invalid_parameter(message: str) -> ServiceError:
    return ServiceError("InvalidParameterException", message)


def constraint(value: object, member: str, rule: str) -> ServiceError:
    """A model-style constraint failure, which Logs reports as InvalidParameterException."""
    return invalid_parameter(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    )


def group_not_found() -> ServiceError:
    return ServiceError("ResourceNotFoundException", GROUP_NOT_FOUND)


def stream_not_found() -> ServiceError:
    return ServiceError("ResourceNotFoundException", STREAM_NOT_FOUND)


def group_exists() -> ServiceError:
    return ServiceError("ResourceAlreadyExistsException", GROUP_EXISTS)


def stream_exists() -> ServiceError:
    return ServiceError("ResourceAlreadyExistsException", STREAM_EXISTS)


def invalid_token() -> ServiceError:
    return invalid_parameter(INVALID_TOKEN)


def deletion_protected() -> ServiceError:
    """Deletion protection blocks DeleteLogGroup and DeleteLogStream until it is disabled."""
    return ServiceError(
        "ValidationException",
        "The log group has deletion protection enabled; disable it with PutLogGroupDeletionProtection first.",
    )
