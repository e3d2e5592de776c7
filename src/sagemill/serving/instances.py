"""Model-server instances as the reconciler starts and watches them: argv, env, ports, pings, failure text."""

from __future__ import annotations

import http.client
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path

from sagemill.executors.images import Algorithm, resolve_training_image

SERVER_MODULE = "sagemill.serving.model_server"
HOST = "127.0.0.1"
# Only what a Python process needs to start: the server's own environment (keys, database URL) never
# reaches a model, which may run user code.
_BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}


def model_kind(image: str, environment: Mapping[str, str]) -> str:
    """The model server's --kind for a container image (UnsupportedImage when none fits)."""
    runtime = resolve_training_image(image)
    if runtime.algorithm in (Algorithm.SKLEARN, Algorithm.PYTORCH):
        return "script"
    if runtime.algorithm is Algorithm.XGBOOST and environment.get("SAGEMAKER_PROGRAM"):
        return "script"
    return runtime.algorithm.value


def new_instance_id() -> str:
    """An EC2-looking id (`i-` and 17 hex digits), as SageMaker's endpoint log streams carry."""
    return "i-" + secrets.token_hex(9)[:17]


def free_port(host: str = HOST) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def server_argv(python: str, module: str, kind: str, model_dir: Path, port: int) -> list[str]:
    return [
        python,
        "-m",
        module,
        "--model-dir",
        str(model_dir),
        "--port",
        str(port),
        "--host",
        HOST,
        "--kind",
        kind,
    ]


def server_env(container_env: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """A scrubbed environment: the container's Environment, one math thread per instance by default."""
    env = {**_BASE_ENV, "OMP_NUM_THREADS": "1", **extra}
    env.update({str(k): str(v) for k, v in container_env.items()})
    return env


def ping(port: int, timeout: float, host: str = HOST) -> bool:
    """GET /ping answered 200 within `timeout`."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/ping")
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def log_tail(path: Path, limit: int = 900) -> str:
    """The end of an instance's output, for a FailureReason that names the cause."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 8192))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    tail = " | ".join(lines[-6:])
    return tail[-limit:]
