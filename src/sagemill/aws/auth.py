"""The authentication port, and how each protocol family words an authentication failure."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from sagemill.aws.context import Principal
from sagemill.aws.errors import ServiceError
from sagemill.aws.request import AwsRequest


class AuthProblem(StrEnum):
    MISSING = "missing"
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    # A presigned URL past its X-Amz-Expires (S3 words this differently from clock skew).
    URL_EXPIRED = "url_expired"
    BODY_HASH = "body_hash"
    # A signing scheme Sagemill refuses outright (SigV2 presigned URLs).
    UNSUPPORTED = "unsupported"


class AuthFailure(Exception):
    """Authentication failed; the gateway turns it into the service family's error."""

    def __init__(self, problem: AuthProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


class Authenticator(Protocol):
    """Turns a signed request into a Principal, or raises AuthFailure.

    `region` is the region of the credential scope, already read by the router.
    Implementations are thread-safe and never log secrets.
    """

    def authenticate(self, request: AwsRequest, service: str, region: str) -> Principal: ...


_JSON_CODES = {
    AuthProblem.MISSING: "MissingAuthenticationTokenException",
    AuthProblem.MALFORMED: "IncompleteSignatureException",
    AuthProblem.UNKNOWN_KEY: "UnrecognizedClientException",
    AuthProblem.BAD_SIGNATURE: "InvalidSignatureException",
    AuthProblem.EXPIRED: "InvalidSignatureException",
    AuthProblem.URL_EXPIRED: "InvalidSignatureException",
    AuthProblem.BODY_HASH: "InvalidSignatureException",
    AuthProblem.UNSUPPORTED: "IncompleteSignatureException",
}
_QUERY_CODES = {
    AuthProblem.MISSING: "MissingAuthenticationToken",
    AuthProblem.MALFORMED: "IncompleteSignature",
    AuthProblem.UNKNOWN_KEY: "InvalidClientTokenId",
    AuthProblem.BAD_SIGNATURE: "SignatureDoesNotMatch",
    AuthProblem.EXPIRED: "SignatureDoesNotMatch",
    AuthProblem.URL_EXPIRED: "SignatureDoesNotMatch",
    AuthProblem.BODY_HASH: "SignatureDoesNotMatch",
    AuthProblem.UNSUPPORTED: "IncompleteSignature",
}
_S3_CODES = {
    AuthProblem.MISSING: "AccessDenied",
    AuthProblem.MALFORMED: "AuthorizationHeaderMalformed",
    AuthProblem.UNKNOWN_KEY: "InvalidAccessKeyId",
    AuthProblem.BAD_SIGNATURE: "SignatureDoesNotMatch",
    AuthProblem.EXPIRED: "RequestTimeTooSkewed",
    AuthProblem.URL_EXPIRED: "AccessDenied",
    AuthProblem.BODY_HASH: "XAmzContentSHA256Mismatch",
    AuthProblem.UNSUPPORTED: "InvalidRequest",
}


# S3 words these two its own way; the other families share the authenticator's wording.
_S3_MESSAGES = {
    AuthProblem.UNKNOWN_KEY: "The AWS Access Key Id you provided does not exist in our records.",
    AuthProblem.BAD_SIGNATURE: "The request signature we calculated does not match the signature you "
    "provided. Check your key and signing method.",
}


def auth_error(failure: AuthFailure, protocol: str, service: str) -> ServiceError:
    """The ServiceError a service of this protocol answers for an authentication failure."""
    if service == "s3":
        code = _S3_CODES[failure.problem]
        bad_request = (AuthProblem.MALFORMED, AuthProblem.BODY_HASH, AuthProblem.UNSUPPORTED)
        status = 400 if failure.problem in bad_request else 403
        return ServiceError(code, _S3_MESSAGES.get(failure.problem, failure.message), status)
    table = _QUERY_CODES if protocol == "query" else _JSON_CODES
    code = table[failure.problem]
    malformed = failure.problem in (AuthProblem.MALFORMED, AuthProblem.UNSUPPORTED)
    status = 400 if malformed and protocol == "query" else 403
    return ServiceError(code, failure.message, status, query_code=_QUERY_CODES[failure.problem])
