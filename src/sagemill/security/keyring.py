"""The server key in the data directory, and the AES-256-GCM sealing of secrets at rest with it."""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import stat
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE_NAME = "server.key"
_HEADER = "sagemill-server-key-v1"
_KEY_BYTES = 32
_NONCE_BYTES = 12
# The first byte of every sealed blob names its format, so a later rotation scheme can coexist.
_FORMAT_V1 = b"\x01"


class KeyringError(Exception):
    """The server key cannot be used; the message says what to do about it."""


class Keyring:
    """Seals and opens secrets with the server key; the key never leaves this object.

    `associated_data` binds a ciphertext to where it is stored (an access key id, say), so a
    sealed secret copied onto another row does not open.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise KeyringError(f"the server key must be {_KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Keyring(<server key>)"

    @classmethod
    def load_or_create(cls, data_dir: Path) -> Keyring:
        """Read `<data_dir>/server.key`, creating it (mode 0600) on first use.

        Refuses a key file that group or others may access: the key opens every stored secret.
        """
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / KEY_FILE_NAME
        if not path.exists():
            _create(path)
        return cls(_read(path))

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT_V1 + nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        if len(ciphertext) < 1 + _NONCE_BYTES + 16 or ciphertext[:1] != _FORMAT_V1:
            raise KeyringError("the sealed secret is not in a format this server knows")
        nonce, sealed = ciphertext[1 : 1 + _NONCE_BYTES], ciphertext[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, associated_data)
        except InvalidTag:
            raise KeyringError(
                "a stored secret does not open with this server key (was server.key replaced?)"
            ) from None


def _create(path: Path) -> None:
    """Write a fresh key atomically: a concurrent starter either wins or reads the winner's file."""
    text = f"{_HEADER}\n{base64.b64encode(os.urandom(_KEY_BYTES)).decode()}\n"
    # mkstemp creates the file 0600 whatever the umask, so the key is never briefly readable.
    fd, tmp_name = tempfile.mkstemp(prefix=".server.key.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails if the name exists, unlike rename(): the first writer's key is kept.
        with contextlib.suppress(FileExistsError):
            os.link(tmp_name, path)
    finally:
        os.unlink(tmp_name)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read(path: Path) -> bytes:
    try:
        info = path.stat()
    except OSError as exc:
        raise KeyringError(f"cannot read the server key {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyringError(f"the server key {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise KeyringError(
            f"the server key {path} has mode {mode:04o}: group or others can read it. "
            f"Refusing to start; restrict it with `chmod 600 {path}` "
            "(and consider the stored secrets exposed if others did read it)."
        )
    try:
        lines = path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyringError(f"cannot read the server key {path}: {exc}") from None
    if len(lines) != 2 or lines[0] != _HEADER:
        raise KeyringError(f"the server key {path} is not a Sagemill key file")
    try:
        key = base64.b64decode(lines[1], validate=True)
    except binascii.Error:
        raise KeyringError(f"the server key {path} is corrupt (bad base64)") from None
    if len(key) != _KEY_BYTES:
        raise KeyringError(f"the server key {path} is corrupt (wrong length)")
    return key
