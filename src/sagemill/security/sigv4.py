"""SigV4 by the book: read the fields a request carries, and rebuild what its signer signed."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

from sagemill.aws.auth import AuthFailure, AuthProblem
from sagemill.aws.request import AwsRequest

ALGORITHM = "AWS4-HMAC-SHA256"
_ACCESS_KEY = re.compile(r"^[A-Za-z0-9+/=_-]{1,128}$")
_DATE = re.compile(r"^\d{8}$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# The payload literals a signer may put where the body's hash goes (SigV4a's ECDSA ones are not accepted).
PAYLOAD_LITERALS = frozenset(
    {
        UNSIGNED_PAYLOAD,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    }
)
# RFC 3986 unreserved characters stay as they are; everything else is %XX (space is %20).
_UNRESERVED = "-_.~"


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
    lowered = request.query.lower()
    if "x-amz-signature=" in lowered:
        return _from_query(request.query)
    if "awsaccesskeyid=" in lowered and "signature=" in lowered:
        raise AuthFailure(
            AuthProblem.UNSUPPORTED,
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256: "
            "Sagemill accepts SigV4 presigned URLs only (boto3: Config(signature_version='s3v4')).",
        )
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


def canonical_uri(path: str, *, s3: bool) -> str:
    """The path as signed: S3 signs it as sent; other services normalise it and encode it a second time."""
    if s3:
        return path or "/"
    return quote(remove_dot_segments(path) or "/", safe="/~")


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, plus the collapsing of repeated slashes that AWS services expect."""
    if not path:
        return ""
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    lead = "/" if path.startswith("/") else ""
    trail = "/" if path.endswith("/") and kept else ""
    return lead + "/".join(kept) + trail


def canonical_query(query: str, *, exclude_signature: bool) -> str:
    """Decode every name and value, re-encode them the RFC 3986 way, sort by name then value.

    Re-encoding (rather than trusting the raw text, as botocore's own signer does) makes clients
    that encode differently — unencoded `*`, lower-case hex — verify too.
    """
    pairs: list[tuple[str, str]] = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = unquote(name)
        if exclude_signature and name.lower() == "x-amz-signature":
            continue
        pairs.append((quote(name, safe=_UNRESERVED), quote(unquote(value), safe=_UNRESERVED)))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_headers(headers: dict[str, str], signed_headers: tuple[str, ...]) -> tuple[str, str]:
    """(canonical header block, signed-headers line) over the signed headers only.

    Headers the client did not sign (added by a proxy, or by an attacker) do not count; a signed
    header that is absent takes an empty value, so the signature cannot match.
    """
    names = sorted(set(signed_headers))
    block = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in names)
    return block, ";".join(names)


def canonical_request(
    method: str, uri: str, query: str, header_block: str, signed_line: str, payload_hash: str
) -> str:
    return "\n".join((method.upper(), uri, query, header_block, signed_line, payload_hash))


def string_to_sign(timestamp: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The HMAC chain AWS4+secret → date → region → service → aws4_request."""
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def signature(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
