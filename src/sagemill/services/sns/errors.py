"""SNS's error codes and wording: `InvalidParameter` reasons, `NotFound`, `AuthorizationError`."""

from __future__ import annotations

from sagemill.aws.context import RequestContext
from sagemill.aws.errors import ServiceError

TOPIC_NOT_FOUND = "Topic does not exist"
SUBSCRIPTION_NOT_FOUND = "Subscription does not exist"


def invalid_parameter(reason: str) -> ServiceError:
    return ServiceError("InvalidParameter", f"Invalid parameter: {reason}", 400)


def invalid_value(message: str) -> ServiceError:
    return ServiceError("ParameterValueInvalid", message, 400)


def not_found(message: str) -> ServiceError:
    return ServiceError("NotFound", message, 404)


def resource_not_found() -> ServiceError:
    return ServiceError("ResourceNotFound", "Resource does not exist", 404)


def tag_limit_exceeded() -> ServiceError:
    return ServiceError(
        "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded", 400
    )


def not_authorized(context: RequestContext, arn: str) -> ServiceError:
    """Another account's resource: SNS refuses without saying whether it exists."""
    action = f"SNS:{context.operation}"
    return ServiceError(
        "AuthorizationError",
        f"User: {context.principal.arn} is not authorized to perform: {action} on resource: {arn} "
        f"because no resource-based policy allows the {action} action",
        403,
    )
