"""Helpers for the model server tests: tiny real models on disk and real server processes on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def csv_body(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(f"{v:.6g}" for v in row) for row in np.atleast_2d(rows)).encode()


class Server:
    """One `python -m sagemill.serving.model_server` process and a keep-alive session to it."""

    def __init__(self, model_dir: Path, kind: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
        full_env.update(env or {})
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sagemill.serving.model_server",
                "--model-dir",
                str(model_dir),
                "--port",
                str(self.port),
                "--kind",
                kind,
                "--grace",
                "3",
            ],
            env=full_env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.session = requests.Session()

    def wait_ready(self, timeout: float = 30) -> float:
        """Seconds from spawn to the first 200 from /ping."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                out, err = self.process.communicate()
                raise AssertionError(f"server exited {self.process.returncode}\n{out}\n{err}")
            try:
                if self.session.get(self.url + "/ping", timeout=2).status_code == 200:
                    return time.monotonic() - self.started
            except requests.ConnectionError:
                pass
            time.sleep(0.02)
        raise AssertionError("server never became ready")

    def invoke(
        self, body: bytes, content_type: str | None = "text/csv", accept: str | None = None, **extra: str
    ) -> requests.Response:
        headers = dict(extra)
        if content_type is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        return self.session.post(self.url + "/invocations", data=body, headers=headers, timeout=30)

    def stop(self) -> tuple[int, str, str]:
        self.session.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err


@contextmanager
def running(model_dir: Path, kind: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = Server(model_dir, kind, env)
    try:
        server.wait_ready()
        yield server
    finally:
        if server.process.poll() is None:
            server.stop()


def run_to_exit(model_dir: Path, kind: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """For models that must fail to load: the process's exit status, stdout and stderr."""
    server = Server(model_dir, kind, env)
    out, err = server.process.communicate(timeout=60)
    return server.process.returncode, out, err


def xgboost_model(
    directory: Path, objective: str, num_class: int = 0, rounds: int = 5
) -> tuple[Path, np.ndarray]:
    """A tiny booster on 6 features, saved as the XGBoost runner saves it (`xgboost-model`, UBJSON)."""
    import xgboost

    rng = np.random.default_rng(0)
    features = rng.normal(size=(120, 6))
    if num_class:
        labels = (np.abs(features[:, 0] * 2).astype(int)) % num_class
    elif objective.startswith("reg:"):
        labels = features @ np.arange(1, 7)
    else:
        labels = (features[:, 0] + features[:, 1] > 0).astype(float)
    params = {"objective": objective, "max_depth": 3, "nthread": 1}
    if num_class:
        params["num_class"] = num_class
    booster = xgboost.train(params, xgboost.DMatrix(features, label=labels), rounds)
    directory.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(directory / "model.ubj"))
    (directory / "model.ubj").rename(directory / "xgboost-model")
    return directory, features
