"""CloudWatch's error wording: the query-compatible codes and the messages AWS answers with."""

from __future__ import annotations

from sagemill.aws.errors import ServiceError


def _error(code: str, message: str, status: int = 400) -> ServiceError:
    # CloudWatch is query-compatible: JSON replies carry the legacy code in x-amzn-query-error.
    return ServiceError(code, message, status, query_code=code)


def invalid_value(message: str) -> ServiceError:
    return _error("InvalidParameterValue", message)


def invalid_parameter(name: str, value: object) -> ServiceError:
    return invalid_value(f"The value {value} for parameter {name} is not valid.")


def invalid_combination(message: str) -> ServiceError:
    return _error("InvalidParameterCombination", message)


def missing_parameter(message: str) -> ServiceError:
    return _error("MissingParameter", message)


def not_found(message: str) -> ServiceError:
    return _error("ResourceNotFound", message, 404)


def alarm_not_found(name: str) -> ServiceError:
    return not_found(f"Alarm {name} not found")


def limit_exceeded(message: str) -> ServiceError:
    return _error("LimitExceeded", message)


def invalid_next_token() -> ServiceError:
    return _error("InvalidNextToken", "The service cannot return the next page: the NextToken is invalid.")


def invalid_format(message: str) -> ServiceError:
    return _error("InvalidFormat", message)


def validation(message: str) -> ServiceError:
    return _error("ValidationError", message)
