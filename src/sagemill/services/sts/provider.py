"""STS operations.

LIMITATIONS:
- Only GetCallerIdentity; AssumeRole and session credentials are not issued yet.
"""

from __future__ import annotations

from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler


def operations() -> dict[str, Handler]:
    def get_caller_identity(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        principal = context.principal
        return {"UserId": principal.user_id, "Account": principal.account_id, "Arn": principal.arn}

    return {"GetCallerIdentity": get_caller_identity}
