"""Model-server instances as the reconciler starts and watches them: argv, env, ports, pings, failure text."""

from __future__ import annotations

import hashlib
import http.client
import json
import secrets
import socket
from collections.abc import Iterator, Mapping, Set
from pathlib import Path

from sagemill.executors.base import Executor, WorkerPhase, WorkerState
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


def slot_instance_id(endpoint_arn: str, model_dir: str, deployed_at: float, slot: int) -> str:
    """The id of a variant deployment's `slot`-th instance: a step retried after a lost save adopts it."""
    seed = f"{endpoint_arn}|{model_dir}|{deployed_at!r}|{slot}".encode()
    return "i-" + hashlib.sha256(seed).hexdigest()[:17]


def instance_port(instance_dir: Path) -> int:
    """The port recorded for an instance (one started before a crash is adopted), else a new free one."""
    record = instance_dir / "instance.json"
    try:
        return int(json.loads(record.read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    port = free_port()
    instance_dir.mkdir(parents=True, exist_ok=True)
    scratch = record.with_suffix(".tmp")
    scratch.write_text(json.dumps({"port": port}))
    scratch.replace(record)
    return port


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


def exit_reason(log_path: Path, observed: WorkerState | None, instance_id: str) -> str:
    """A FailureReason for an instance whose model server is no longer running."""
    code = observed.exit_code if observed is not None else None
    how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
    if observed is not None and observed.phase is WorkerPhase.LOST:
        how = "was lost (its supervisor ended unexpectedly)"
    tail = log_tail(log_path)
    detail = f": {tail}" if tail else "."
    return f"The model server of instance {instance_id} {how}{detail}"[:1024]


def stop_orphans(
    executor: Executor, base: Path, known: Set[str], ended: set[Path], *, grace: float = 0
) -> Iterator[str]:
    """Stop each running worker under `base` whose instance id is not `known`; yields their ids.

    `ended` caches worker dirs seen not running (a worker never restarts), so each is observed once.
    """
    if not base.is_dir():
        return
    for instance_dir in sorted(base.iterdir()):
        workdir = instance_dir / "worker"
        if instance_dir.name in known or workdir in ended:
            continue
        observed = executor.observe(workdir)
        if observed is not None and observed.phase is WorkerPhase.RUNNING:
            executor.stop(workdir, grace)
            yield instance_dir.name
        else:
            ended.add(workdir)
