"""Read the SigV4 fields a request carries, from the Authorization header or a presigned URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from sagemill.aws.auth import AuthFailure, AuthProblem
from sagemill.aws.request import AwsRequest

ALGORITHM = "AWS4-HMAC-SHA256"
_ACCESS_KEY = re.compile(r"^[A-Za-z0-9+/=_-]{1,128}$")
_DATE = re.compile(r"^\d{8}$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class SignedFields:
    """The parts of a SigV4 signature, before any verification."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool


def read_signature(request: AwsRequest) -> SignedFields:
    """Parse the signature fields; raises AuthFailure(MISSING or MALFORMED)."""
    header = request.header("authorization")
    if header:
        return _from_header(header)
    if "x-amz-signature=" in request.query.lower():
        return _from_query(request.query)
    raise AuthFailure(
        AuthProblem.MISSING,
        "Missing Authentication Token: the request carries no Authorization header or SigV4 query signature.",
    )


def _from_header(header: str) -> SignedFields:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise AuthFailure(
            AuthProblem.MALFORMED,
            f"Authorization header requires the {ALGORITHM} algorithm; Sagemill does not accept "
            f"'{algorithm[:32]}'.",
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name] = value
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)]
    if missing:
        raise AuthFailure(
            AuthProblem.MALFORMED,
            "Authorization header requires " + ", ".join(f"'{m}'" for m in missing) + " parameter(s).",
        )
    return _fields(fields["Credential"], fields["SignedHeaders"], fields["Signature"], presigned=False)


def _from_query(query: str) -> SignedFields:
    params = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
    if params.get("x-amz-algorithm") != ALGORITHM:
        raise AuthFailure(AuthProblem.MALFORMED, f"X-Amz-Algorithm must be {ALGORITHM}.")
    return _fields(
        params.get("x-amz-credential", ""),
        params.get("x-amz-signedheaders", ""),
        params.get("x-amz-signature", ""),
        presigned=True,
    )


def _fields(credential: str, signed_headers: str, signature: str, *, presigned: bool) -> SignedFields:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AuthFailure(
            AuthProblem.MALFORMED,
            "Credential should be scoped to a valid region, service and date: "
            "'<AccessKeyId>/<yyyymmdd>/<region>/<service>/aws4_request'.",
        )
    access_key_id, date, region, service, _ = parts
    if not _ACCESS_KEY.match(access_key_id) or not _DATE.match(date) or not region or not service:
        raise AuthFailure(AuthProblem.MALFORMED, "Credential is not well formed.")
    headers = tuple(signed_headers.split(";")) if signed_headers else ()
    if not headers or any(h != h.strip().lower() or not h for h in headers):
        raise AuthFailure(
            AuthProblem.MALFORMED, "SignedHeaders must be a ';'-separated list of lower-case names."
        )
    if not _SIGNATURE.match(signature):
        raise AuthFailure(AuthProblem.MALFORMED, "Signature must be 64 lower-case hexadecimal characters.")
    return SignedFields(access_key_id, date, region, service, headers, signature, presigned)
