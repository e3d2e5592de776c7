"""InferenceError: a request that fails with a given HTTP status and a message for the caller."""

from __future__ import annotations


class InferenceError(Exception):
    """Raised by handlers; the app answers `status` with `message` as the body (text/plain)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def unsupported_media_type(content_type: str) -> InferenceError:
    return InferenceError(415, f"Content type {content_type or '(none)'} is not supported.")


def not_acceptable(accept: str) -> InferenceError:
    return InferenceError(406, f"Accept type {accept} is not supported.")


def bad_request(message: str) -> InferenceError:
    return InferenceError(400, message)
