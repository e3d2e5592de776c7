"""Issuing accounts and access keys: id formats, refusals, and only ciphertext in the store."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagemill.security.credentials import (
    CredentialError,
    create_access_key,
    create_account,
    open_secret,
    principal_user_id,
)
from sagemill.security.keyring import Keyring
from sagemill.store.sql.migrate import upgrade
from sagemill.store.sql.repositories import SqlStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    sql = SqlStore(f"sqlite:///{tmp_path / 'sagemill.db'}")
    upgrade(sql.engine)
    yield sql
    sql.close()


def test_drawn_account_ids_are_twelve_digits(store: SqlStore) -> None:
    ids = {create_account(store, time.time).account_id for _ in range(5)}
    assert len(ids) == 5
    assert all(re.fullmatch(r"\d{12}", account_id) for account_id in ids)


def test_given_account_id_is_used_once(store: SqlStore) -> None:
    account = create_account(store, time.time, "111122223333", "team-a")
    assert (account.account_id, account.name) == ("111122223333", "team-a")
    assert store.get_account("111122223333") == account
    with pytest.raises(CredentialError, match="already exists"):
        create_account(store, time.time, "111122223333")


@pytest.mark.parametrize("bad", ["12345", "12345678901a", "000000000000", "1234567890123"])
def test_bad_account_ids_are_refused(store: SqlStore, bad: str) -> None:
    with pytest.raises(CredentialError):
        create_account(store, time.time, bad)


def test_access_key_format_and_sealed_storage(store: SqlStore, tmp_path: Path) -> None:
    keyring = Keyring.load_or_create(tmp_path)
    create_account(store, time.time, "111122223333")
    issued = create_access_key(store, keyring, time.time, "111122223333", "alice")
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", issued.key.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", issued.secret_access_key)
    found = store.get_access_key(issued.key.access_key_id)
    assert found is not None
    key, ciphertext = found
    assert key == issued.key and key.status == "Active" and key.user_name == "alice"
    assert issued.secret_access_key.encode() not in ciphertext
    assert open_secret(keyring, key.access_key_id, ciphertext) == issued.secret_access_key
    assert issued.secret_access_key not in repr(issued)


def test_access_key_for_unknown_account_is_refused(store: SqlStore, tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="no account 999999999999"):
        create_access_key(store, Keyring.load_or_create(tmp_path), time.time, "999999999999")


def test_bad_user_name_is_refused(store: SqlStore, tmp_path: Path) -> None:
    create_account(store, time.time, "111122223333")
    with pytest.raises(CredentialError, match="user name"):
        create_access_key(store, Keyring.load_or_create(tmp_path), time.time, "111122223333", "a b")


def test_user_ids_are_stable_and_distinct(store: SqlStore, tmp_path: Path) -> None:
    keyring = Keyring.load_or_create(tmp_path)
    create_account(store, time.time, "111122223333")
    first = create_access_key(store, keyring, time.time, "111122223333", "alice").key
    again = create_access_key(store, keyring, time.time, "111122223333", "alice").key
    other = create_access_key(store, keyring, time.time, "111122223333", "bob").key
    assert principal_user_id(first) == principal_user_id(again) != principal_user_id(other)
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", principal_user_id(first))
