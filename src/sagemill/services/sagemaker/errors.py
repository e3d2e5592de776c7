"""SageMaker's error wording: its not-found and already-exists messages are ValidationExceptions."""

from __future__ import annotations

from sagemill.aws.errors import ServiceError

# How SageMaker names each kind in its messages.
KIND_WORDS = {
    "model": "model",
    "endpoint_config": "endpoint configuration",
    "endpoint": "endpoint",
}


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def could_not_find(kind: str, arn: str) -> ServiceError:
    return validation(f'Could not find {KIND_WORDS[kind]} "{arn}".')


def already_exists(kind: str, arn: str) -> ServiceError:
    return validation(f'Cannot create already existing {KIND_WORDS[kind]} "{arn}".')


def resource_limit(message: str) -> ServiceError:
    return ServiceError("ResourceLimitExceeded", message)
