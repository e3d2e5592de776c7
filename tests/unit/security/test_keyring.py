"""The server key file: created private, refused when others can read it, and sealing that binds context."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sagemill.security.keyring import KEY_FILE_NAME, Keyring, KeyringError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_file_is_created_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        Keyring.load_or_create(tmp_path / "data")
    finally:
        os.umask(old)
    assert mode(tmp_path / "data" / KEY_FILE_NAME) == 0o600
    assert [p.name for p in (tmp_path / "data").iterdir()] == [KEY_FILE_NAME]  # no temp file left


def test_the_same_key_is_loaded_again(tmp_path: Path) -> None:
    sealed = Keyring.load_or_create(tmp_path).encrypt(b"secret", b"ctx")
    assert Keyring.load_or_create(tmp_path).decrypt(sealed, b"ctx") == b"secret"


@pytest.mark.parametrize("bits", [0o640, 0o604, 0o644, 0o660])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, bits: int) -> None:
    Keyring.load_or_create(tmp_path)
    (tmp_path / KEY_FILE_NAME).chmod(bits)
    with pytest.raises(KeyringError, match="chmod 600"):
        Keyring.load_or_create(tmp_path)


def test_a_corrupt_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.write_text("not a key\n")
    path.chmod(0o600)
    with pytest.raises(KeyringError, match="not a Sagemill key file"):
        Keyring.load_or_create(tmp_path)


def test_ciphertext_hides_the_plaintext_and_is_fresh_each_time(tmp_path: Path) -> None:
    keyring = Keyring.load_or_create(tmp_path)
    first, second = keyring.encrypt(b"wJalrXUtnFEMI", b"AKIA1"), keyring.encrypt(b"wJalrXUtnFEMI", b"AKIA1")
    assert first != second
    assert b"wJalrXUtnFEMI" not in first


def test_sealed_secrets_are_bound_to_their_context_and_key(tmp_path: Path) -> None:
    keyring = Keyring.load_or_create(tmp_path / "a")
    sealed = keyring.encrypt(b"secret", b"AKIA1")
    with pytest.raises(KeyringError):
        keyring.decrypt(sealed, b"AKIA2")
    with pytest.raises(KeyringError):
        Keyring.load_or_create(tmp_path / "b").decrypt(sealed, b"AKIA1")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(KeyringError):
        keyring.decrypt(tampered, b"AKIA1")
    assert "server key" in repr(keyring)
