"""The two authentication modes: `dev` trusts any well-formed signature, `strict` verifies it."""

from __future__ import annotations

import re

from sagemill.aws.context import Principal
from sagemill.aws.request import AwsRequest
from sagemill.domain.arns import account_root_arn
from sagemill.security.sigv4 import read_signature

DEFAULT_ACCOUNT = "000000000000"
_ACCOUNT_ID = re.compile(r"^\d{12}$")


class DevAuthenticator:
    """Accepts any well-formed SigV4 request; a 12-digit access key id names the account (as moto does)."""

    def authenticate(self, request: AwsRequest, service: str, region: str) -> Principal:
        fields = read_signature(request)
        account = fields.access_key_id if _ACCOUNT_ID.match(fields.access_key_id) else DEFAULT_ACCOUNT
        return Principal(account, fields.access_key_id, account_root_arn(account), account)
