"""Strict mode: verify every SigV4 signature against the stored, sealed access keys."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from sagemill.aws.auth import AuthFailure, AuthProblem
from sagemill.aws.context import Principal
from sagemill.aws.request import AwsRequest
from sagemill.domain.resources import AccessKey
from sagemill.security import sigv4
from sagemill.security.credentials import ACTIVE, open_secret, principal_arn, principal_user_id
from sagemill.security.keyring import Keyring, KeyringError
from sagemill.security.sigv4 import SignedFields
from sagemill.store.base import Store

MAX_PRESIGN_SECONDS = 604_800  # a week, AWS's ceiling for X-Amz-Expires
_TIMESTAMP = re.compile(r"^\d{8}T\d{6}Z$")
_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_SIGNING_KEY_CACHE_SIZE = 4096
# How stale a key read may be: a key created or changed takes effect within this many seconds.
KEY_TTL_SECONDS = 5.0

_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_INVALID_TOKEN = "The security token included in the request is invalid."


class StrictAuthenticator:
    """Verifies SigV4 (Authorization header or presigned query) against the key store.

    Beyond the signature it enforces what botocore's signer leaves to servers: only SignedHeaders
    count and `host` must be one of them; a hex `x-amz-content-sha256` must be the body's hash;
    the scope date is X-Amz-Date's date; the clock skew is bounded; presigned URLs expire.

    LIMITATIONS:
    - Session credentials (ASIA… keys, X-Amz-Security-Token) are not issued, so any token is refused.
    - For `STREAMING-*` payloads the chunk signatures are not verified here; the body is accepted
      on the strength of the header signature (the literal is what was signed).
    - SigV2 and SigV4a are refused as malformed.
    """

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        clock: Callable[[], float] = time.time,
        max_skew_seconds: int = 900,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._clock = clock
        self._max_skew = max_skew_seconds
        # (key id, date, region, service) → (sealed secret it came from, derived signing key).
        # Deriving costs four HMACs plus an AES-GCM open; a key is good for a whole UTC day.
        self._signing_keys: dict[tuple[str, str, str, str], tuple[bytes, bytes]] = {}
        # access key id → (when read, the row): InvokeEndpoint's fast path authenticates on the
        # event loop, so a key is read from the database at most once per KEY_TTL_SECONDS.
        self._keys: dict[str, tuple[float, tuple[AccessKey, bytes] | None]] = {}
        self._lock = threading.Lock()

    def authenticate(self, request: AwsRequest, service: str, region: str) -> Principal:
        fields = sigv4.read_signature(request)
        if fields.service != service:
            raise AuthFailure(
                AuthProblem.BAD_SIGNATURE, f"Credential should be scoped to correct service: '{service}'."
            )
        if fields.region != region:
            raise AuthFailure(AuthProblem.BAD_SIGNATURE, "Credential should be scoped to a valid region.")
        if "host" not in fields.signed_headers:
            raise AuthFailure(
                AuthProblem.MALFORMED,
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            )
        query = _lower_query(request) if fields.presigned else {}
        timestamp = query.get("x-amz-date", "") if fields.presigned else _header_timestamp(request)
        when = _parse_timestamp(timestamp, fields.presigned)
        if timestamp[:8] != fields.date:
            raise AuthFailure(
                AuthProblem.BAD_SIGNATURE,
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{fields.date}' != '{timestamp[:8]}', from '{timestamp}'.",
            )
        if fields.presigned:
            self._check_presigned_window(when, query.get("x-amz-expires", ""))
        else:
            self._check_skew(when)
        key, ciphertext = self._lookup(fields.access_key_id)
        if request.header("x-amz-security-token") or "x-amz-security-token" in query:
            raise AuthFailure(AuthProblem.UNKNOWN_KEY, _INVALID_TOKEN)
        s3 = service == "s3"
        header_block, signed_line = sigv4.canonical_headers(request.headers, fields.signed_headers)
        canonical = sigv4.canonical_request(
            request.method,
            # A virtual-hosted S3 request was signed before the gateway moved its bucket into the path.
            sigv4.canonical_uri(request.context.get("signed_path", request.path), s3=s3),
            sigv4.canonical_query(request.query, exclude_signature=fields.presigned),
            header_block,
            signed_line,
            _payload_hash(request, fields, s3=s3),
        )
        scope = f"{fields.date}/{fields.region}/{fields.service}/aws4_request"
        to_sign = sigv4.string_to_sign(timestamp, scope, canonical)
        expected = sigv4.signature(self._signing_key(fields, ciphertext), to_sign)
        if not hmac.compare_digest(expected, fields.signature):
            message = _BAD_SIGNATURE
            if not s3:
                # AWS's JSON and query services hand back what they signed, to debug other signers.
                message += (
                    f"\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
                    f"The String-to-Sign should have been\n'{to_sign}'\n"
                )
            raise AuthFailure(AuthProblem.BAD_SIGNATURE, message)
        return Principal(key.account_id, key.access_key_id, principal_arn(key), principal_user_id(key))

    def _lookup(self, access_key_id: str) -> tuple[AccessKey, bytes]:
        now = self._clock()
        cached = self._keys.get(access_key_id)
        if cached is not None and now - cached[0] < KEY_TTL_SECONDS:
            found = cached[1]
        else:
            found = self._store.get_access_key(access_key_id)
            with self._lock:
                if len(self._keys) >= _SIGNING_KEY_CACHE_SIZE:
                    self._keys.clear()
                self._keys[access_key_id] = (now, found)
        # An inactive key reads exactly like an unknown one, as AWS answers for both.
        if found is None or found[0].status != ACTIVE:
            raise AuthFailure(AuthProblem.UNKNOWN_KEY, _INVALID_TOKEN)
        return found

    def _signing_key(self, fields: SignedFields, ciphertext: bytes) -> bytes:
        cache_key = (fields.access_key_id, fields.date, fields.region, fields.service)
        cached = self._signing_keys.get(cache_key)
        # Compared with the sealed secret so a re-issued key id never signs with a stale secret.
        if cached is not None and cached[0] == ciphertext:
            return cached[1]
        try:
            secret = open_secret(self._keyring, fields.access_key_id, ciphertext)
        except KeyringError:
            # A secret sealed under another server key: the caller cannot be verified, say so plainly.
            raise AuthFailure(AuthProblem.UNKNOWN_KEY, _INVALID_TOKEN) from None
        derived = sigv4.signing_key(secret, fields.date, fields.region, fields.service)
        with self._lock:
            if len(self._signing_keys) >= _SIGNING_KEY_CACHE_SIZE:
                self._signing_keys.clear()  # days roll over; dropping everything now and then is enough
            self._signing_keys[cache_key] = (ciphertext, derived)
        return derived

    def _check_skew(self, when: float) -> None:
        now = self._clock()
        minutes = f"{self._max_skew // 60} min." if self._max_skew % 60 == 0 else f"{self._max_skew} s."
        if when < now - self._max_skew:
            raise AuthFailure(
                AuthProblem.EXPIRED,
                f"Signature expired: {_format(when)} is now earlier than {_format(now - self._max_skew)} "
                f"({_format(now)} - {minutes})",
            )
        if when > now + self._max_skew:
            raise AuthFailure(
                AuthProblem.EXPIRED,
                f"Signature not yet current: {_format(when)} is still later than "
                f"{_format(now + self._max_skew)} ({_format(now)} + {minutes})",
            )

    def _check_presigned_window(self, when: float, expires_text: str) -> None:
        if not expires_text.isdigit():
            raise AuthFailure(AuthProblem.MALFORMED, "X-Amz-Expires must be a whole number of seconds.")
        expires = int(expires_text)
        if expires < 1:
            raise AuthFailure(AuthProblem.MALFORMED, "X-Amz-Expires must be at least 1 second.")
        if expires > MAX_PRESIGN_SECONDS:
            raise AuthFailure(
                AuthProblem.MALFORMED,
                f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_SECONDS}.",
            )
        now = self._clock()
        if now < when - self._max_skew:
            raise AuthFailure(AuthProblem.EXPIRED, f"Request is not valid yet: it is dated {_format(when)}.")
        if now > when + expires:
            raise AuthFailure(
                AuthProblem.URL_EXPIRED, f"Request has expired: it was valid until {_format(when + expires)}."
            )


def _payload_hash(request: AwsRequest, fields: SignedFields, *, s3: bool) -> str:
    """The payload line the signer used, after checking any hash it claims against the body."""
    claimed = request.header("x-amz-content-sha256")
    if claimed:
        if claimed in sigv4.PAYLOAD_LITERALS:
            return claimed
        if not _HEX_SHA256.match(claimed):
            raise AuthFailure(
                AuthProblem.BODY_HASH,
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value or a SHA-256 hex digest.",
            )
        if request.stream is not None:
            # A streamed body is hashed as it is read; the gateway's verifying reader fails the
            # request at the end of the body if it does not match.
            return claimed
        # botocore's signer trusts this header; recomputing stops a body swapped under a valid signature.
        actual = hashlib.sha256(request.body).hexdigest()
        if not hmac.compare_digest(actual, claimed.lower()):
            raise AuthFailure(
                AuthProblem.BODY_HASH,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        return claimed
    if s3 and fields.presigned:
        return sigv4.UNSIGNED_PAYLOAD  # S3 presigned URLs never sign a body
    return hashlib.sha256(request.body).hexdigest()


def _lower_query(request: AwsRequest) -> dict[str, str]:
    return {name.lower(): value for name, value in request.query_params()}


def _header_timestamp(request: AwsRequest) -> str:
    amz_date = request.header("x-amz-date")
    if amz_date:
        return amz_date
    date = request.header("date")
    if not date:
        raise AuthFailure(
            AuthProblem.MALFORMED,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    try:
        parsed = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        raise AuthFailure(AuthProblem.MALFORMED, "The Date header is not an HTTP date.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _parse_timestamp(timestamp: str, presigned: bool) -> float:
    where = "X-Amz-Date query parameter" if presigned else "X-Amz-Date header"
    if not _TIMESTAMP.match(timestamp):
        raise AuthFailure(
            AuthProblem.MALFORMED, f"The {where} must be an ISO-8601 basic date-time (yyyyMMddTHHmmssZ)."
        )
    try:
        return datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise AuthFailure(AuthProblem.MALFORMED, f"The {where} is not a valid date-time.") from None


def _format(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%dT%H%M%SZ")
