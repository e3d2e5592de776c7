"""Who is calling, where, and which operation: handed to every service handler."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller. `arn` is the IAM identity STS GetCallerIdentity reports."""

    account_id: str
    access_key_id: str
    arn: str
    user_id: str


@dataclass(frozen=True, slots=True)
class RequestContext:
    """One request as a service handler sees it; scoped by (account, region)."""

    request_id: str
    service: str
    operation: str
    region: str
    principal: Principal

    @property
    def account_id(self) -> str:
        return self.principal.account_id
