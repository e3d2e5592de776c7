"""SNS message signatures: the server's RSA signing key and self-signed certificate, and SNS's string to sign.

The key and its certificate live together in `<data-dir>/sns-signing.pem` (mode 0600, created on first start);
subscribers fetch the certificate from `SigningCertURL` and verify `Signature` (SignatureVersion 1:
SHA1withRSA, 2: SHA256withRSA) over the ordered key/value lines SNS documents.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from sagemill.security.keyring import KeyringError

FILE_NAME = "sns-signing.pem"
SIGNATURE_VERSIONS = ("1", "2")
_KEY_BITS = 2048
_VALID_DAYS = 3650
# The fields each message type signs, in SNS's order; a field the message lacks is left out (Subject).
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": _CONFIRMATION_FIELDS,
}


class SigningKeyError(KeyringError):
    """The SNS signing key file cannot be used; the message says what to do about it."""


def string_to_sign(envelope: Mapping[str, Any]) -> bytes:
    """SNS's string to sign: `name\\nvalue\\n` for each signed field present, in the documented order."""
    fields = _SIGNED_FIELDS.get(str(envelope.get("Type")))
    if fields is None:
        raise ValueError(f"SNS does not sign messages of type {envelope.get('Type')!r}")
    return "".join(f"{name}\n{envelope[name]}\n" for name in fields if name in envelope).encode("utf-8")


def _hash(version: str) -> hashes.HashAlgorithm:
    if version == "1":
        return hashes.SHA1()
    if version == "2":
        return hashes.SHA256()
    raise ValueError(f"unknown SNS SignatureVersion {version!r}")


class MessageSigner:
    """Signs SNS envelopes with the server's key; the private key never leaves this object."""

    def __init__(self, key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> None:
        self._key = key
        self.certificate = certificate
        self.certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)
        digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
        # Named like SNS's own certificates; the digest changes whenever the key does, so caches never lie.
        self.certificate_name = f"SimpleNotificationService-{digest[:32]}.pem"

    def __repr__(self) -> str:
        return f"MessageSigner({self.certificate_name})"

    @classmethod
    def generate(cls) -> MessageSigner:
        key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
        return cls(key, _self_signed(key))

    @classmethod
    def load_or_create(cls, data_dir: Path) -> MessageSigner:
        """Read `<data_dir>/sns-signing.pem`, creating it (mode 0600) on first use."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / FILE_NAME
        if not path.exists():
            _create(path, cls.generate())
        return _read(path)

    def sign(self, envelope: Mapping[str, Any], version: str) -> str:
        """The base64 `Signature` of an envelope under SignatureVersion `version` ("1" or "2")."""
        signature = self._key.sign(string_to_sign(envelope), padding.PKCS1v15(), _hash(version))
        return base64.b64encode(signature).decode("ascii")

    def pem(self) -> bytes:
        """Key and certificate as stored on disk (private: only for writing the 0600 file)."""
        key = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return key + self.certificate_pem


def verify(certificate_pem: bytes, envelope: Mapping[str, Any]) -> bool:
    """Check an envelope's Signature against a PEM certificate, as a subscriber does (used by tests)."""
    public_key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return False
    try:
        public_key.verify(
            base64.b64decode(str(envelope["Signature"])),
            string_to_sign(envelope),
            padding.PKCS1v15(),
            _hash(str(envelope["SignatureVersion"])),
        )
    except InvalidSignature:
        return False
    return True


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sagemill"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Sagemill SNS message signing"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def _create(path: Path, signer: MessageSigner) -> None:
    """Write the key file atomically: a concurrent starter either wins or reads the winner's file."""
    # mkstemp creates the file 0600 whatever the umask, so the key is never briefly readable.
    fd, tmp_name = tempfile.mkstemp(prefix=".sns-signing.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(signer.pem())
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails if the name exists, unlike rename(): the first writer's key is kept.
        with contextlib.suppress(FileExistsError):
            os.link(tmp_name, path)
    finally:
        os.unlink(tmp_name)


def _read(path: Path) -> MessageSigner:
    try:
        info = path.stat()
        data = path.read_bytes() if stat.S_ISREG(info.st_mode) else b""
    except OSError as exc:
        raise SigningKeyError(f"cannot read the SNS signing key {path}: {exc.strerror}") from None
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise SigningKeyError(
            f"the SNS signing key {path} has mode {mode:04o}: group or others can read it. Refusing to "
            f"start; restrict it with `chmod 600 {path}` (or delete it to make a new key)."
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise SigningKeyError(
            f"the SNS signing key {path} is not a PEM private key followed by its certificate; "
            "delete it to make a new one"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or certificate.public_key() != key.public_key():
        raise SigningKeyError(f"the SNS signing key {path} does not match its certificate; delete it")
    return MessageSigner(key, certificate)
