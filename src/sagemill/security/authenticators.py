"""The two authentication modes: `dev` trusts any well-formed signature, `strict` verifies it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sagemill.aws.auth import AuthFailure, AuthProblem
from sagemill.aws.context import Principal
from sagemill.aws.request import AwsRequest
from sagemill.domain.arns import account_root_arn
from sagemill.security.sigv4 import read_signature

DEFAULT_ACCOUNT = "000000000000"
MAX_PRESIGN_SECONDS = 604_800  # a week, AWS's ceiling for X-Amz-Expires
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_TIMESTAMP = re.compile(r"^\d{8}T\d{6}Z$")


class DevAuthenticator:
    """Accepts any well-formed SigV4 request; a 12-digit access key id names the account (as moto does).

    The signature is not checked, but a presigned URL still expires: a link handed out for five
    minutes must stop working after five minutes in development too.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def authenticate(self, request: AwsRequest, service: str, region: str) -> Principal:
        fields = read_signature(request)
        if fields.presigned:
            self._check_expiry(request)
        account = fields.access_key_id if _ACCOUNT_ID.match(fields.access_key_id) else DEFAULT_ACCOUNT
        return Principal(account, fields.access_key_id, account_root_arn(account), account)

    def _check_expiry(self, request: AwsRequest) -> None:
        query = {name.lower(): value for name, value in request.query_params()}
        stamp, expires = query.get("x-amz-date", ""), query.get("x-amz-expires", "")
        if not _TIMESTAMP.match(stamp) or not expires.isdigit():
            raise AuthFailure(
                AuthProblem.MALFORMED,
                "A presigned URL needs X-Amz-Date (yyyyMMddTHHmmssZ) and X-Amz-Expires (seconds).",
            )
        if not 1 <= int(expires) <= MAX_PRESIGN_SECONDS:
            raise AuthFailure(
                AuthProblem.MALFORMED,
                f"X-Amz-Expires must be between 1 and {MAX_PRESIGN_SECONDS} seconds.",
            )
        try:
            signed = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise AuthFailure(AuthProblem.MALFORMED, "X-Amz-Date is not a valid date-time.") from None
        if self._clock() > signed + int(expires):
            raise AuthFailure(AuthProblem.URL_EXPIRED, "Request has expired")
