"""The strict verifier against requests signed by botocore's own signers, valid and tampered."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sagemill.aws.auth import AuthFailure, AuthProblem, auth_error
from sagemill.aws.request import AwsRequest
from sagemill.domain.resources import AccessKey
from sagemill.security.credentials import (
    INACTIVE,
    IssuedKey,
    create_access_key,
    create_account,
    seal_secret,
)
from sagemill.security.keyring import Keyring
from sagemill.security.strict import StrictAuthenticator
from sagemill.store.sql.migrate import upgrade
from sagemill.store.sql.repositories import SqlStore

HOST = "127.0.0.1:4600"
URL = f"http://{HOST}/"
TARGET = "SageMaker.DescribeModel"
BODY = b'{"ModelName": "m1"}'


@dataclass
class World:
    store: SqlStore
    keyring: Keyring
    root: IssuedKey
    alice: IssuedKey
    account_id: str

    def verifier(self, clock: Any = time.time, skew: int = 900) -> StrictAuthenticator:
        return StrictAuthenticator(self.store, self.keyring, clock, skew)

    def creds(self, issued: IssuedKey | None = None) -> Credentials:
        issued = issued or self.alice
        return Credentials(issued.key.access_key_id, issued.secret_access_key)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir: Path = tmp_path_factory.mktemp("verify")
    store = SqlStore(f"sqlite:///{data_dir / 'sagemill.db'}")
    upgrade(store.engine)
    keyring = Keyring.load_or_create(data_dir)
    account = create_account(store, time.time, name="verify")
    root = create_access_key(store, keyring, time.time, account.account_id)
    alice = create_access_key(store, keyring, time.time, account.account_id, "alice")
    yield World(store, keyring, root, alice, account.account_id)
    store.close()


def to_wire(request: AWSRequest, body: bytes | None = None) -> AwsRequest:
    """What the gateway would hand the authenticator for this botocore request."""
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    headers = {name.lower(): value for name, value in prepared.headers.items()}
    headers.setdefault("host", parts.netloc)  # the HTTP client adds Host from the URL
    raw_body = prepared.body if body is None else body
    if isinstance(raw_body, str):
        raw_body = raw_body.encode()
    return AwsRequest(prepared.method, parts.path or "/", parts.query, headers, raw_body or b"")


def signed_json(creds: Credentials, *, body: bytes = BODY, region: str = "us-east-1") -> AWSRequest:
    request = AWSRequest(
        method="POST",
        url=URL,
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET},
    )
    SigV4Auth(creds, "sagemaker", region).add_auth(request)
    return request


def rebuilt(wire: AwsRequest, **changes: Any) -> AwsRequest:
    return dataclasses.replace(wire, headers=dict(wire.headers), **changes)


def failure(world: World, request: AwsRequest, service: str = "sagemaker", **kw: Any) -> AuthFailure:
    with pytest.raises(AuthFailure) as caught:
        world.verifier(**kw).authenticate(request, service, "us-east-1")
    return caught.value


def test_valid_json_request_yields_the_user_principal(world: World) -> None:
    principal = world.verifier().authenticate(to_wire(signed_json(world.creds())), "sagemaker", "us-east-1")
    assert principal.account_id == world.account_id
    assert principal.access_key_id == world.alice.key.access_key_id
    assert principal.arn == f"arn:aws:iam::{world.account_id}:user/alice"
    assert principal.user_id.startswith("AIDA") and len(principal.user_id) == 21


def test_root_key_yields_the_root_principal(world: World) -> None:
    wire = to_wire(signed_json(world.creds(world.root)))
    principal = world.verifier().authenticate(wire, "sagemaker", "us-east-1")
    assert principal.arn == f"arn:aws:iam::{world.account_id}:root"
    assert principal.user_id == world.account_id


def test_same_verifier_verifies_repeatedly_from_its_key_cache(world: World) -> None:
    verifier = world.verifier()
    for _ in range(3):
        verifier.authenticate(to_wire(signed_json(world.creds())), "sagemaker", "us-east-1")
    assert len(verifier._signing_keys) == 1


def test_tampered_body_fails(world: World) -> None:
    wire = rebuilt(to_wire(signed_json(world.creds())), body=b'{"ModelName": "m2"}')
    assert failure(world, wire).problem is AuthProblem.BAD_SIGNATURE


def test_tampered_target_fails(world: World) -> None:
    wire = to_wire(signed_json(world.creds()))
    wire.headers["x-amz-target"] = "SageMaker.DeleteModel"
    assert failure(world, wire).problem is AuthProblem.BAD_SIGNATURE


def test_unsigned_extra_header_is_ignored(world: World) -> None:
    wire = to_wire(signed_json(world.creds()))
    wire.headers["x-forwarded-for"] = "10.0.0.1"
    wire.headers["user-agent"] = "a proxy rewrote me"
    world.verifier().authenticate(wire, "sagemaker", "us-east-1")


def test_changed_signed_header_fails(world: World) -> None:
    wire = to_wire(signed_json(world.creds()))
    assert "content-type" in wire.headers["authorization"]
    wire.headers["content-type"] = "application/x-amz-json-1.0"
    assert failure(world, wire).problem is AuthProblem.BAD_SIGNATURE


def test_removed_signed_header_fails(world: World) -> None:
    wire = to_wire(signed_json(world.creds()))
    del wire.headers["x-amz-target"]
    assert failure(world, wire).problem is AuthProblem.BAD_SIGNATURE


def test_whitespace_in_signed_header_values_is_canonicalised(world: World) -> None:
    wire = to_wire(signed_json(world.creds()))
    wire.headers["content-type"] = "  application/x-amz-json-1.1 "
    world.verifier().authenticate(wire, "sagemaker", "us-east-1")


@pytest.mark.parametrize("minutes", [16, -16])
def test_sixteen_minutes_of_skew_fails(world: World, minutes: int) -> None:
    wire = to_wire(signed_json(world.creds()))
    caught = failure(world, wire, clock=lambda: time.time() + minutes * 60)
    assert caught.problem is AuthProblem.EXPIRED
    assert caught.message.startswith("Signature expired" if minutes > 0 else "Signature not yet current")
    error = auth_error(caught, "json", "sagemaker")
    assert (error.code, error.status) == ("InvalidSignatureException", 403)


def test_fourteen_minutes_of_skew_passes(world: World) -> None:
    wire = to_wire(signed_json(world.creds()))
    world.verifier(clock=lambda: time.time() + 14 * 60).authenticate(wire, "sagemaker", "us-east-1")


def test_wrong_secret_fails(world: World) -> None:
    creds = Credentials(world.alice.key.access_key_id, "x" * 40)
    caught = failure(world, to_wire(signed_json(creds)))
    assert caught.problem is AuthProblem.BAD_SIGNATURE
    assert "The Canonical String for this request should have been" in caught.message
    assert world.alice.secret_access_key not in caught.message


def test_unknown_key_fails(world: World) -> None:
    creds = Credentials("AKIAUNKNOWNUNKNOWN00", "x" * 40)
    caught = failure(world, to_wire(signed_json(creds)))
    assert caught.problem is AuthProblem.UNKNOWN_KEY
    assert auth_error(caught, "json", "sagemaker").code == "UnrecognizedClientException"
    assert auth_error(caught, "query", "sts").code == "InvalidClientTokenId"
    assert auth_error(caught, "rest-xml", "s3").code == "InvalidAccessKeyId"


def test_inactive_key_reads_as_unknown(world: World) -> None:
    key = AccessKey("AKIAINACTIVEINACTIVE", world.account_id, "bob", INACTIVE, time.time())
    secret = "s" * 40
    world.store.create_access_key(key, seal_secret(world.keyring, key.access_key_id, secret))
    caught = failure(world, to_wire(signed_json(Credentials(key.access_key_id, secret))))
    assert caught.problem is AuthProblem.UNKNOWN_KEY


def test_secret_sealed_for_another_key_id_does_not_open(world: World) -> None:
    # The sealed secret is bound to its key id: a row copied under another id is useless.
    _, ciphertext = world.store.get_access_key(world.alice.key.access_key_id) or (None, b"")
    key = AccessKey("AKIACOPIEDCOPIEDCOPY", world.account_id, "mallory", "Active", time.time())
    world.store.create_access_key(key, ciphertext)
    creds = Credentials(key.access_key_id, world.alice.secret_access_key)
    assert failure(world, to_wire(signed_json(creds))).problem is AuthProblem.UNKNOWN_KEY


def test_session_token_is_refused(world: World) -> None:
    creds = Credentials(world.alice.key.access_key_id, world.alice.secret_access_key, "a-session-token")
    assert failure(world, to_wire(signed_json(creds))).problem is AuthProblem.UNKNOWN_KEY


def test_host_must_be_signed(world: World) -> None:
    wire = to_wire(signed_json(world.creds()))
    auth = wire.headers["authorization"]
    wire.headers["authorization"] = auth.replace(
        "SignedHeaders=content-type;host;", "SignedHeaders=content-type;"
    )
    assert wire.headers["authorization"] != auth
    assert failure(world, wire).problem is AuthProblem.MALFORMED


def test_changed_host_fails(world: World) -> None:
    wire = to_wire(signed_json(world.creds()))
    wire.headers["host"] = "evil.example:4600"
    assert failure(world, wire).problem is AuthProblem.BAD_SIGNATURE


def test_scope_date_must_match_x_amz_date(world: World) -> None:
    wire = to_wire(signed_json(world.creds()))
    amz_date = wire.headers["x-amz-date"]
    wire.headers["authorization"] = wire.headers["authorization"].replace(f"/{amz_date[:8]}/", "/20200101/")
    caught = failure(world, wire)
    assert caught.problem is AuthProblem.BAD_SIGNATURE
    assert "Date in Credential scope" in caught.message


def test_missing_date_is_malformed(world: World) -> None:
    wire = to_wire(signed_json(world.creds()))
    del wire.headers["x-amz-date"]
    assert failure(world, wire).problem is AuthProblem.MALFORMED


def test_scope_must_name_the_routed_service_and_region(world: World) -> None:
    wire = to_wire(signed_json(world.creds(), region="eu-west-1"))
    with pytest.raises(AuthFailure):
        world.verifier().authenticate(wire, "sagemaker", "us-east-1")
    with pytest.raises(AuthFailure):
        world.verifier().authenticate(wire, "monitoring", "eu-west-1")
    world.verifier().authenticate(wire, "sagemaker", "eu-west-1")


def test_path_is_double_encoded_for_non_s3_services(world: World) -> None:
    request = AWSRequest(
        method="POST",
        url=f"http://{HOST}/endpoints/my%20endpoint/invocations?b=2&a=1&a=0",
        data=b"1,2,3",
        headers={"Content-Type": "text/csv"},
    )
    SigV4Auth(world.creds(), "sagemaker", "us-east-1").add_auth(request)
    wire = to_wire(request)
    world.verifier().authenticate(wire, "sagemaker", "us-east-1")
    # The same signature does not cover another path.
    assert (
        failure(world, rebuilt(wire, path="/endpoints/my%20endpoint2/invocations")).problem
        is AuthProblem.BAD_SIGNATURE
    )
    # Nor another query.
    assert failure(world, rebuilt(wire, query="a=1&b=2")).problem is AuthProblem.BAD_SIGNATURE


def s3_put(creds: Credentials, body: bytes, key: str = "dir/my%20file%2B1.txt") -> AWSRequest:
    request = AWSRequest(method="PUT", url=f"http://{HOST}/bucket/{key}", data=body, headers={})
    S3SigV4Auth(creds, "s3", "us-east-1").add_auth(request)
    return request


def test_valid_s3_signed_payload_passes(world: World) -> None:
    wire = to_wire(s3_put(world.creds(), b"hello world"))
    assert wire.headers["x-amz-content-sha256"] == hashlib.sha256(b"hello world").hexdigest()
    world.verifier().authenticate(wire, "s3", "us-east-1")


def test_s3_body_swapped_under_its_signed_hash_fails(world: World) -> None:
    # botocore's signer trusts x-amz-content-sha256; the verifier must hash the body itself.
    wire = rebuilt(to_wire(s3_put(world.creds(), b"hello world")), body=b"HELLO WORLD")
    caught = failure(world, wire, service="s3")
    assert caught.problem is AuthProblem.BODY_HASH
    error = auth_error(caught, "rest-xml", "s3")
    assert (error.code, error.status) == ("XAmzContentSHA256Mismatch", 400)


def test_content_sha256_mismatch_on_a_json_service_fails(world: World) -> None:
    request = AWSRequest(
        method="POST",
        url=URL,
        data=BODY,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": TARGET,
            "X-Amz-Content-SHA256": hashlib.sha256(b"something else").hexdigest(),
        },
    )
    SigV4Auth(world.creds(), "sagemaker", "us-east-1").add_auth(request)
    assert failure(world, to_wire(request)).problem is AuthProblem.BODY_HASH


def test_garbage_content_sha256_fails(world: World) -> None:
    wire = to_wire(s3_put(world.creds(), b"x"))
    wire.headers["x-amz-content-sha256"] = "not-a-hash"
    assert failure(world, wire, service="s3").problem is AuthProblem.BODY_HASH


@pytest.mark.parametrize("literal", ["UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"])
def test_payload_literals_are_what_was_signed(world: World, literal: str) -> None:
    request = AWSRequest(
        method="PUT",
        url=f"http://{HOST}/bucket/key",
        data=b"anything",
        headers={"X-Amz-Content-SHA256": literal},
    )
    # SigV4Auth (not the S3 signer) keeps a caller-set X-Amz-Content-SHA256 as the payload line.
    SigV4Auth(world.creds(), "s3", "us-east-1").add_auth(request)
    wire = to_wire(request)
    world.verifier().authenticate(wire, "s3", "us-east-1")
    # The literal itself is signed: swapping it for a hash of the body breaks the signature.
    wire.headers["x-amz-content-sha256"] = hashlib.sha256(b"anything").hexdigest()
    assert failure(world, wire, service="s3").problem is AuthProblem.BAD_SIGNATURE


def presigned(world: World, auth: Any, url: str, method: str = "GET") -> AwsRequest:
    request = AWSRequest(method=method, url=url, headers={})
    auth.add_auth(request)
    return to_wire(request, b"")


def test_presigned_s3_url_passes_and_expires(world: World) -> None:
    signer = S3SigV4QueryAuth(world.creds(), "s3", "us-east-1", expires=300)
    wire = presigned(world, signer, f"http://{HOST}/bucket/some%20key.txt")
    assert "authorization" not in wire.headers and "X-Amz-Signature=" in wire.query
    assert world.verifier().authenticate(wire, "s3", "us-east-1").account_id == world.account_id
    world.verifier(clock=lambda: time.time() + 290).authenticate(wire, "s3", "us-east-1")
    caught = failure(world, wire, service="s3", clock=lambda: time.time() + 301)
    assert caught.problem is AuthProblem.URL_EXPIRED
    assert auth_error(caught, "rest-xml", "s3").code == "AccessDenied"


def test_presigned_url_with_changed_parameter_fails(world: World) -> None:
    signer = S3SigV4QueryAuth(world.creds(), "s3", "us-east-1", expires=300)
    wire = presigned(world, signer, f"http://{HOST}/bucket/key?versionId=1")
    world.verifier().authenticate(wire, "s3", "us-east-1")
    tampered = rebuilt(wire, query=wire.query.replace("versionId=1", "versionId=2"))
    assert failure(world, tampered, service="s3").problem is AuthProblem.BAD_SIGNATURE
    longer = rebuilt(wire, query=wire.query.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"))
    assert failure(world, longer, service="s3").problem is AuthProblem.BAD_SIGNATURE


def test_presigned_query_for_a_query_service_passes(world: World) -> None:
    signer = SigV4QueryAuth(world.creds(), "sts", "us-east-1", expires=60)
    wire = presigned(world, signer, f"http://{HOST}/?Action=GetCallerIdentity&Version=2011-06-15")
    principal = world.verifier().authenticate(wire, "sts", "us-east-1")
    assert principal.arn.endswith(":user/alice")
    assert (
        failure(world, wire, service="sts", clock=lambda: time.time() + 61).problem is AuthProblem.URL_EXPIRED
    )


@pytest.mark.parametrize("expires", ["0", "604801", "-5", "soon"])
def test_presigned_expiry_must_be_between_a_second_and_a_week(world: World, expires: str) -> None:
    signer = S3SigV4QueryAuth(world.creds(), "s3", "us-east-1", expires=300)
    wire = presigned(world, signer, f"http://{HOST}/bucket/key")
    wire = rebuilt(wire, query=wire.query.replace("X-Amz-Expires=300", f"X-Amz-Expires={expires}"))
    assert failure(world, wire, service="s3").problem is AuthProblem.MALFORMED


def test_presigned_week_long_url_is_accepted(world: World) -> None:
    signer = S3SigV4QueryAuth(world.creds(), "s3", "us-east-1", expires=604800)
    wire = presigned(world, signer, f"http://{HOST}/bucket/key")
    world.verifier(clock=lambda: time.time() + 6 * 86400).authenticate(wire, "s3", "us-east-1")


def test_presigned_url_dated_in_the_future_fails(world: World) -> None:
    signer = S3SigV4QueryAuth(world.creds(), "s3", "us-east-1", expires=3600)
    wire = presigned(world, signer, f"http://{HOST}/bucket/key")
    caught = failure(world, wire, service="s3", clock=lambda: time.time() - 20 * 60)
    assert caught.problem is AuthProblem.EXPIRED


def test_the_secret_is_never_in_an_error(world: World) -> None:
    creds = Credentials(world.alice.key.access_key_id, world.alice.secret_access_key)
    wire = rebuilt(to_wire(signed_json(creds)), body=b"{}")
    caught = failure(world, wire)
    assert world.alice.secret_access_key not in caught.message
    assert world.alice.secret_access_key not in repr(world.alice)


def test_key_reads_are_cached_briefly(world: World) -> None:
    now = [time.time()]
    verifier = world.verifier(clock=lambda: now[0])
    reads: list[str] = []
    real = world.store.get_access_key

    def counting(access_key_id: str) -> Any:
        reads.append(access_key_id)
        return real(access_key_id)

    verifier._store = type("CountingStore", (), {"get_access_key": staticmethod(counting)})()  # type: ignore[assignment]
    request = to_wire(signed_json(world.creds()))
    for _ in range(3):
        verifier.authenticate(request, "sagemaker", "us-east-1")
    assert reads == [world.alice.key.access_key_id]
    now[0] += 6
    verifier.authenticate(to_wire(signed_json(world.creds())), "sagemaker", "us-east-1")
    assert len(reads) == 2
