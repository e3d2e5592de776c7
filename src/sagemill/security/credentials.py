"""Issue accounts and long-term access keys; secrets are sealed by the Keyring before they are stored."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass

from sagemill.domain.arns import account_root_arn, user_arn
from sagemill.domain.errors import AlreadyExists
from sagemill.domain.resources import AccessKey, Account
from sagemill.security.keyring import Keyring
from sagemill.store.base import Store

ACTIVE = "Active"
INACTIVE = "Inactive"
# The dev-mode fallback account; issuing it for real would merge a tenant with every unsigned test.
RESERVED_ACCOUNT = "000000000000"

_ACCOUNT_ID = re.compile(r"^\d{12}$")
# IAM's user-name pattern and length limit.
_USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"

Clock = Callable[[], float]


class CredentialError(Exception):
    """A request to issue an account or key that cannot be honoured; the message says why."""


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly issued key; the only moment the plaintext secret exists outside a request."""

    key: AccessKey
    secret_access_key: str

    def __repr__(self) -> str:
        return f"IssuedKey({self.key!r}, secret_access_key=<hidden>)"


def create_account(
    store: Store, clock: Clock, account_id: str | None = None, name: str | None = None
) -> Account:
    """Create an account; a random 12-digit id is drawn when none is given."""
    if account_id is not None:
        _check_account_id(account_id)
        account = Account(account_id, name or f"account-{account_id}", clock())
        try:
            store.create_account(account)
        except AlreadyExists:
            raise CredentialError(f"account {account_id} already exists") from None
        return account
    for _ in range(16):
        drawn = f"{secrets.randbelow(10**12):012d}"
        if drawn == RESERVED_ACCOUNT:
            continue
        account = Account(drawn, name or f"account-{drawn}", clock())
        try:
            store.create_account(account)
        except AlreadyExists:
            continue  # a collision among 10^12 ids: draw again
        return account
    raise CredentialError("could not draw an unused account id")


def create_access_key(
    store: Store, keyring: Keyring, clock: Clock, account_id: str, user_name: str = ""
) -> IssuedKey:
    """Issue an active key for the account's root (empty user name) or a named IAM-style user."""
    if store.get_account(account_id) is None:
        raise CredentialError(
            f"no account {account_id} exists; create it first with "
            f"`sagemill admin create-account --account-id {account_id}`"
        )
    if user_name and not _USER_NAME.match(user_name):
        raise CredentialError("user name must be 1-64 characters of letters, digits and _+=,.@- (IAM's rule)")
    for _ in range(16):
        key_id = "AKIA" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
        secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
        key = AccessKey(key_id, account_id, user_name, ACTIVE, clock())
        try:
            store.create_access_key(key, seal_secret(keyring, key_id, secret))
        except AlreadyExists:
            continue
        return IssuedKey(key, secret)
    raise CredentialError("could not draw an unused access key id")


def seal_secret(keyring: Keyring, access_key_id: str, secret: str) -> bytes:
    """The stored form of a secret, bound to its key id so it cannot be moved to another row."""
    return keyring.encrypt(secret.encode(), access_key_id.encode())


def open_secret(keyring: Keyring, access_key_id: str, ciphertext: bytes) -> str:
    return keyring.decrypt(ciphertext, access_key_id.encode()).decode()


def principal_arn(key: AccessKey) -> str:
    return user_arn(key.account_id, key.user_name) if key.user_name else account_root_arn(key.account_id)


def principal_user_id(key: AccessKey) -> str:
    """What GetCallerIdentity reports as UserId: the account id for root, a stable AIDA… id for a user.

    AWS assigns users a random unique id; deriving it from (account, user) keeps it stable
    without another table, at the cost of reusing it if a user is deleted and re-created.
    """
    if not key.user_name:
        return key.account_id
    digest = hashlib.sha256(f"{key.account_id}/{key.user_name}".encode()).digest()
    return "AIDA" + base64.b32encode(digest).decode()[:17]


def _check_account_id(account_id: str) -> None:
    if not _ACCOUNT_ID.match(account_id):
        raise CredentialError(f"account id must be 12 digits, not {account_id[:32]!r}")
    if account_id == RESERVED_ACCOUNT:
        raise CredentialError(f"account id {RESERVED_ACCOUNT} is reserved for dev mode")
