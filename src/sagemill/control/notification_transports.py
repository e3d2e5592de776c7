"""How SNS deliveries leave the server: an HTTP(S) POST or a mail through the configured SMTP server."""

from __future__ import annotations

import http.client
import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from sagemill.control.sns_egress import DEFAULT_EGRESS, EgressPolicy

HTTP_TIMEOUT_SECONDS = 5.0
SMTP_TIMEOUT_SECONDS = 10.0
# Enough of an endpoint's answer to finish the exchange politely; the rest is never read.
_MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "Amazon Simple Notification Service Agent"


class DeliveryFailed(Exception):
    """One attempt failed; `reason` says why in words safe to store and log (no credentials)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeliveryRefused(DeliveryFailed):
    """The egress policy forbids the endpoint's address: a retry cannot help, so the delivery fails now."""


class HttpSender(Protocol):
    """POSTs `body` to `url`; returns on a 2xx answer, raises DeliveryFailed otherwise."""

    def __call__(self, url: str, body: str, headers: Mapping[str, str]) -> None: ...


class MailSender(Protocol):
    """Sends one plain-text mail; raises DeliveryFailed when the SMTP server refuses it or is unreachable."""

    def __call__(self, to: str, subject: str, body: str, from_name: str) -> None: ...


def post_http(
    url: str,
    body: str,
    headers: Mapping[str, str],
    timeout: float = HTTP_TIMEOUT_SECONDS,
    egress: EgressPolicy = DEFAULT_EGRESS,
) -> None:
    """SNS's HTTP/HTTPS delivery: one POST, no redirects followed, certificates verified.

    The name is resolved here and the connection made to a resolved address the egress policy allows, so a
    name that resolves differently by the time of the connection (DNS rebinding) cannot reach a refused
    address; the Host header, TLS SNI and certificate verification still use the name.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryFailed("the endpoint is not an http or https URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DeliveryFailed("the endpoint's port is not a number from 0 to 65535") from None
    where = f"{parts.scheme}://{parts.hostname}"  # never the whole URL: it may carry credentials
    address = _allowed_address(parts.hostname, port, egress, where)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = _PinnedHttpsConnection(
            address, parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = _PinnedHttpConnection(address, parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(
            "POST", path, body=body.encode("utf-8"), headers={"User-Agent": USER_AGENT, **headers}
        )
        response = connection.getresponse()
        response.read(_MAX_RESPONSE_BYTES)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed(f"could not deliver to {where}: {_describe(exc)}") from exc
    finally:
        connection.close()
    if not 200 <= status < 300:
        raise DeliveryFailed(f"the endpoint answered HTTP {status}")


Sockaddr = tuple[str, int] | tuple[str, int, int, int]


def _allowed_address(host: str, port: int, egress: EgressPolicy, where: str) -> Sockaddr:
    """The first address `host` resolves to that the policy allows; DeliveryRefused when there is none."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DeliveryFailed(f"could not resolve {where}: {_describe(exc)}") from exc
    refusals: list[tuple[str, str]] = []
    for family, _, _, _, sockaddr in infos:
        if family == socket.AF_INET6 and len(sockaddr) == 4 and isinstance(sockaddr[0], str):
            address: Sockaddr = (sockaddr[0], port, sockaddr[2], sockaddr[3])
        elif family == socket.AF_INET and isinstance(sockaddr[0], str):
            address = (sockaddr[0], port)
        else:
            continue
        reason = egress.refusal(address[0])
        if reason is None:
            return address
        refusals.append((address[0], reason))
    if not refusals:
        raise DeliveryFailed(f"could not resolve {where}: no IPv4 or IPv6 address")
    ip, reason = refusals[0]
    raise DeliveryRefused(f"Refused by the egress policy: {where} resolves to {ip}, which is {reason}")


class _PinnedHttpConnection(http.client.HTTPConnection):
    """Connects to an address checked beforehand while the Host header keeps naming the host."""

    def __init__(self, address: Sockaddr, host: str, port: int | None, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = _connect(self._address, self.timeout)


class _PinnedHttpsConnection(http.client.HTTPSConnection):
    """HTTPS to an address checked beforehand; SNI and certificate verification use the host name."""

    def __init__(
        self, address: Sockaddr, host: str, port: int | None, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = _connect(self._address, self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _connect(address: Sockaddr, timeout: float | None) -> socket.socket:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__ + (f" ({exc.strerror})" if isinstance(exc, OSError) and exc.strerror else "")


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where mail goes: `smtp://[user:password@]host[:port]?from=addr[&starttls=true]` or `smtps://…`."""

    host: str
    port: int
    sender: str
    use_ssl: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                "the SMTP URL must look like smtp://host:port?from=alarms@example.com (or smtps://)"
            )
        query = parse_qs(parts.query)
        sender = query.get("from", ["sagemill@localhost"])[0]
        use_ssl = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if use_ssl else 25),
            sender=sender,
            use_ssl=use_ssl,
            starttls=query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def __call__(self, to: str, subject: str, body: str, from_name: str) -> None:
        mail = EmailMessage()
        mail["From"] = formataddr((from_name, self.sender)) if from_name else self.sender
        mail["To"] = to
        # A header cannot hold a line break; SNS's own subjects never do, an alarm's could.
        mail["Subject"] = " ".join(subject.splitlines())
        mail.set_content(body)
        try:
            client: smtplib.SMTP
            if self.use_ssl:
                client = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)
            with client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(mail)
        except smtplib.SMTPException as exc:
            # SMTP replies name the refused recipient or the failed step, never the password.
            raise DeliveryFailed(f"the SMTP server {self.host}:{self.port} refused the mail: {exc}") from exc
        except OSError as exc:
            raise DeliveryFailed(
                f"could not reach the SMTP server {self.host}:{self.port}: {_describe(exc)}"
            ) from exc


def no_mail_server(to: str, subject: str, body: str, from_name: str) -> None:
    """The MailSender when no SMTP server is configured: every email delivery fails, saying why."""
    raise DeliveryFailed("no SMTP server is configured (sagemill serve --smtp-url or SAGEMILL_SMTP_URL)")


def confirmation_mail(topic_arn: str, subscribe_url: str) -> tuple[str, str]:
    """Subject and body of the mail that asks an email endpoint to confirm, as SNS words it."""
    body = (
        f"You have chosen to subscribe to the topic: \n{topic_arn}\n\n"
        "To confirm this subscription, click or visit the link below "
        "(If this was in error no action is necessary):\n"
        f"Confirm subscription\n{subscribe_url}\n\n"
        "Please do not reply directly to this email. If you wish to remove yourself from receiving all "
        "future SNS subscription confirmation requests please send an email to sns-opt-out\n"
    )
    return "AWS Notification - Subscription Confirmation", body


def notification_mail(message: str, subject: str | None, unsubscribe_url: str) -> tuple[str, str]:
    """Subject and body of a notification to an `email` endpoint: the message and SNS's footer."""
    body = (
        f"{message}\n\n--\n"
        "If you wish to stop receiving notifications from this topic, please click or visit the link below "
        f"to unsubscribe:\n{unsubscribe_url}\n\n"
        "Please do not reply directly to this email. If you have any questions or comments regarding this "
        "email, please contact the sender.\n"
    )
    return subject or "AWS Notification Message", body
