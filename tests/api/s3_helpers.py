"""Shared pieces of the S3 API tests: unique buckets, raw signed requests, tool venvs cached in .cache/."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import time
import uuid
import venv
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import requests
from signing import sign

from sagemill.testing.live_server import LiveServer

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
OWNER = "123456789012"
OTHER = "210987654321"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def s3_client(server: LiveServer, account: str = OWNER, region: str = "us-east-1", **config: Any) -> Any:
    return server.client("s3", account=account, region=region, **config)


def make_bucket(client: Any, prefix: str = "test") -> str:
    name = unique(prefix)
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3(server: LiveServer) -> Any:
    return s3_client(server)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = make_bucket(s3)
    yield name
    empty_and_delete(s3, name)


def empty_and_delete(client: Any, name: str) -> None:
    """Best-effort cleanup so the shared server does not accumulate data."""
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=name)
    except Exception:
        pass


def signed(
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    *,
    account: str = OWNER,
    payload: str | None = None,
) -> dict[str, str]:
    """SigV4 headers for an S3 request; `payload` is the x-amz-content-sha256 to claim (default: none)."""
    all_headers = dict(headers or {})
    if payload is not None:
        all_headers["x-amz-content-sha256"] = payload
    return sign(method, url, all_headers, body, service="s3", access_key=account)


def request(
    server: LiveServer,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    *,
    account: str = OWNER,
    payload: str | None = "UNSIGNED-PAYLOAD",
) -> requests.Response:
    url = f"{server.url}{path}"
    return requests.request(
        method, url, headers=signed(method, url, headers, body, account=account, payload=payload), data=body
    )


def error_of(response: requests.Response) -> tuple[str, str]:
    """(Code, Message) of an S3 XML error body."""
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Error", response.content
    return root.findtext("Code") or "", root.findtext("Message") or ""


def raw_exchange(server: LiveServer, head: bytes, body_parts: list[bytes], *, close_early: bool) -> bytes:
    """Send a request over a bare socket; `close_early` shuts the socket after the parts are sent."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        if close_early:
            sock.shutdown(socket.SHUT_RDWR)
            return b""
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def request_head(method: str, url: str, headers: Mapping[str, str]) -> bytes:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def tool_venv(name: str, requirements: list[str], probe: list[str]) -> Path:
    """A venv under .cache/ holding `requirements`, built once (file-locked for parallel workers).

    Kept apart from .venv on purpose: the AWS CLI pins its own botocore, and the SageMaker SDK brings
    a large dependency tree the server does not need. Skips the test when it cannot be built outside CI.
    """
    CACHE.mkdir(exist_ok=True)
    home = CACHE / f"{name}-venv"
    python = home / "bin" / "python"
    marker = home / ".sagemill-installed"
    wanted = "\n".join(requirements)
    with (CACHE / f"{name}-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == wanted and python.exists():
            return home
        try:
            if not python.exists():
                venv.EnvBuilder(with_pip=True, clear=True).create(home)
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    *requirements,
                ],
                check=True,
                capture_output=True,
                timeout=900,
            )
            subprocess.run([str(python), *probe], check=True, capture_output=True, timeout=120)
        except (subprocess.SubprocessError, OSError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            message = f"could not build the {name} venv: {exc}\n{detail.decode(errors='replace')[-2000:]}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        marker.write_text(wanted)
    return home


def tool_env(server: LiveServer, account: str = OWNER, region: str = "us-east-1") -> dict[str, str]:
    """Environment for a tool in its own venv: credentials, region and endpoint of the live server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(
        AWS_ACCESS_KEY_ID=account,
        AWS_SECRET_ACCESS_KEY="sagemill-test-secret",
        AWS_DEFAULT_REGION=region,
        AWS_REGION=region,
        AWS_ENDPOINT_URL=server.url,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def interpreter() -> str:
    return sys.executable
