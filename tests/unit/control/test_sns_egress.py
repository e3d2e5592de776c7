"""The SNS egress policy, and HTTP(S) deliveries pinned to the address the policy checked."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sagemill.control.notification_transports import DeliveryFailed, DeliveryRefused, post_http
from sagemill.control.sns_egress import EgressPolicy, parse_networks

DEFAULT = EgressPolicy()


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("169.254.169.254", "a cloud metadata service address"),
        ("169.254.170.2", "a cloud metadata service address"),
        ("fd00:ec2::254", "a cloud metadata service address"),
        ("100.100.100.200", "a cloud metadata service address"),
        ("::ffff:169.254.169.254", "a cloud metadata service address"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1%eth0", "a link-local address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("239.1.2.3", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("255.255.255.255", "the broadcast address"),
        ("127.0.0.1", None),
        ("::1", None),
        ("10.1.2.3", None),
        ("93.184.216.34", None),
    ],
)
def test_the_default_policy(address: str, refusal: str | None) -> None:
    assert DEFAULT.refusal(address) == refusal


def test_denied_networks_add_to_the_defaults() -> None:
    policy = EgressPolicy.from_settings(None, "127.0.0.0/8, ::1/128,10.0.0.0/8")
    assert policy.refusal("127.0.0.2") == "in a network denied by SAGEMILL_SNS_HTTP_DENIED_NETWORKS"
    assert policy.refusal("::ffff:10.0.0.1") == "in a network denied by SAGEMILL_SNS_HTTP_DENIED_NETWORKS"
    assert policy.refusal("169.254.169.254") == "a cloud metadata service address"
    assert policy.refusal("192.168.1.1") is None


def test_allowed_networks_replace_the_defaults_but_denies_still_win() -> None:
    policy = EgressPolicy.from_settings("10.0.0.0/8", "10.9.0.0/16")
    assert policy.refusal("10.1.1.1") is None
    assert policy.refusal("10.9.1.1") == "in a network denied by SAGEMILL_SNS_HTTP_DENIED_NETWORKS"
    assert policy.refusal("127.0.0.1") == "outside the networks allowed by SAGEMILL_SNS_HTTP_ALLOWED_NETWORKS"
    anything = EgressPolicy.from_settings("0.0.0.0/0,::/0", None)
    assert anything.refusal("169.254.169.254") is None and anything.refusal("fe80::1") is None
    # Never a receiver, whatever is allowed: 0.0.0.0 would reach this machine behind the policy's back.
    assert anything.refusal("0.0.0.0") == "the unspecified address"


def test_settings_must_be_cidrs() -> None:
    assert parse_networks(" ", "X") is None and parse_networks("10.1.2.3/8,", "X") == (
        ipaddress.ip_network("10.0.0.0/8"),
    )
    with pytest.raises(
        ValueError, match="SAGEMILL_SNS_HTTP_ALLOWED_NETWORKS: 'intranet' is not an IP network"
    ):
        EgressPolicy.from_settings("10.0.0.0/8,intranet", None)


def test_subscribe_judges_literals_only() -> None:
    assert DEFAULT.literal_refusal("[fd00:ec2::254]") == "a cloud metadata service address"
    assert DEFAULT.literal_refusal("metadata.google.internal") is None  # judged on delivery


class Receiver:
    """A plain or TLS HTTP server on 127.0.0.1 that records the Host header and the TLS server name."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.hosts: list[str] = []
        self.server_names: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.hosts.append(str(self.headers.get("Host")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:

            def remember(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
                receiver.server_names.append(name)

            tls.sni_callback = remember
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def resolving_to(*addresses: str) -> Any:
    """A getaddrinfo that answers `addresses` for every name, as a hostile DNS server could."""

    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return fake


def test_a_name_is_delivered_to_with_its_own_host_header(receiver: Receiver) -> None:
    post_http(f"http://localhost:{receiver.port}/hook", "{}", {})
    assert receiver.hosts == [f"localhost:{receiver.port}"]


def test_a_name_resolving_to_a_denied_address_is_refused_without_connecting(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to("169.254.169.254"))
    with pytest.raises(DeliveryRefused) as exc:
        post_http(f"http://user:secret@rebind.example:{receiver.port}/", "{}", {})
    assert exc.value.reason == (
        "Refused by the egress policy: http://rebind.example resolves to 169.254.169.254, "
        "which is a cloud metadata service address"
    )
    assert "secret" not in exc.value.reason and receiver.hosts == []


def test_only_a_checked_address_is_connected_to(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to("169.254.169.254", "127.0.0.1"))
    post_http(f"http://mixed.example:{receiver.port}/", "{}", {})
    assert receiver.hosts == [f"mixed.example:{receiver.port}"]


def test_denied_networks_apply_to_resolved_names(receiver: Receiver) -> None:
    policy = EgressPolicy.from_settings(None, "127.0.0.0/8,::1/128")
    with pytest.raises(DeliveryRefused, match="which is in a network denied by"):
        post_http(f"http://localhost:{receiver.port}/", "{}", {}, egress=policy)
    assert receiver.hosts == []


def test_unresolvable_names_are_ordinary_failures() -> None:
    with pytest.raises(DeliveryFailed) as exc:
        post_http("http://does-not-exist.invalid/", "{}", {})
    assert not isinstance(exc.value, DeliveryRefused)
    assert exc.value.reason.startswith("could not resolve http://does-not-exist.invalid")


def _tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for DNS name `localhost` only (no IP address in it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_https_sends_sni_and_verifies_the_name_while_connecting_to_the_checked_ip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, key_file = _tls_files(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    tls = Receiver(server_context)
    try:
        url = f"https://localhost:{tls.port}/hook"
        with pytest.raises(DeliveryFailed, match=r"SSLCertVerificationError|CERTIFICATE_VERIFY_FAILED"):
            post_http(url, "{}", {})  # the system store does not trust it: verification is on
        trusting = ssl.create_default_context(cafile=str(cert_file))
        monkeypatch.setattr(ssl, "create_default_context", lambda: trusting)
        monkeypatch.setattr(socket, "getaddrinfo", resolving_to("127.0.0.1"))
        post_http(url, "{}", {})
        assert tls.hosts == [f"localhost:{tls.port}"] and tls.server_names[-1] == "localhost"
    finally:
        tls.close()
