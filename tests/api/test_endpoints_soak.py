"""Bounded soak: 16 keep-alive clients on a 2-instance endpoint while an instance is SIGKILLed every 20 s."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from sagemill.testing.live_server import LiveServer

# The soak is 2 minutes; SAGEMILL_SOAK_SECONDS shortens it (never lengthens it past 120 s).
SOAK_SECONDS = min(float(os.environ.get("SAGEMILL_SOAK_SECONDS", "120")), 120.0)
KILL_EVERY_SECONDS = min(20.0, SOAK_SECONDS / 2)
CONCURRENCY = 16
REQUEST_TIMEOUT = 15.0  # a request still unanswered after this is a hang
RECOVERY_SECONDS = 15.0  # a killed instance's replacement answers /ping within this
ACCOUNT = "123456789012"
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
ENDPOINT = "soak"
BODY = b"0.5,-0.25\n-0.75,0.1\n"
# Dev auth accepts any well-formed SigV4 header (the access key id names the account): one fixed
# header keeps 16 client threads cheap on a 2-core machine.
HEADERS = {
    "Content-Type": "text/csv",
    "Accept": "text/csv",
    "X-Amz-Date": "20260101T000000Z",
    "Authorization": (
        f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/us-east-1/sagemaker/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64
    ),
}


@dataclass
class Outcome:
    at: float
    """When the answer (or the failure) came."""
    status: int
    """0 when no HTTP answer came (connection error or timeout)."""
    detail: str = ""


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    outcomes: list[Outcome] = field(default_factory=list)
    statuses: list[tuple[float, str]] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)


def _archive(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _running_instances(data_dir: Path) -> dict[str, int]:
    """instance id → model-server pid, for each instance the executor's records show running."""
    found = {}
    for worker in data_dir.glob(f"endpoints/{ACCOUNT}/us-east-1/{ENDPOINT}/instances/*/worker"):
        if (worker / "worker.json").exists() and not (worker / "exit.json").exists():
            found[worker.parent.name] = int(json.loads((worker / "worker.json").read_text())["pid"])
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _client_loop(port: int, stop: threading.Event, tally: Tally) -> None:
    connection: http.client.HTTPConnection | None = None
    while not stop.is_set():
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request("POST", f"/endpoints/{ENDPOINT}/invocations", body=BODY, headers=HEADERS)
            reply = connection.getresponse()
            payload = reply.read()
        except (OSError, http.client.HTTPException) as exc:
            tally.add(Outcome(time.monotonic(), 0, f"{type(exc).__name__}: {exc}"))
            connection.close()
            connection = None
            continue
        if reply.status == 200:
            lines = payload.decode().split()
            ok = len(lines) == 2 and all(0.0 <= float(v) <= 1.0 for v in lines)
            tally.add(
                Outcome(time.monotonic(), 200 if ok else -1, "" if ok else f"bad body {payload[:200]!r}")
            )
        else:
            tally.add(Outcome(time.monotonic(), reply.status, _aws_shape(reply, payload)))
        if reply.getheader("connection", "").lower() == "close":
            connection.close()
            connection = None
    if connection is not None:
        connection.close()


def _aws_shape(reply: http.client.HTTPResponse, payload: bytes) -> str:
    """'' for a clean AWS-shaped error (JSON __type + x-amzn-errortype/requestid), else what is wrong."""
    try:
        body = json.loads(payload)
    except ValueError:
        return f"not JSON: {payload[:200]!r}"
    if not body.get("__type") or not body.get("Message"):
        return f"no __type/Message: {body}"
    if reply.getheader("x-amzn-errortype") != body["__type"] or not reply.getheader("x-amzn-requestid"):
        return f"headers: {reply.getheaders()}"
    return ""


@pytest.fixture
def soak_server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "data").start()
    try:
        yield live
    finally:
        sm = live.client("sagemaker", account=ACCOUNT)
        try:
            sm.delete_endpoint(EndpointName=ENDPOINT)
            deadline = time.monotonic() + 15
            while _running_instances(live.data_dir) and time.monotonic() < deadline:
                time.sleep(0.1)
        except Exception:
            pass  # cleanup: the instances are killed below either way
        live.stop()
        for pid in _running_instances(live.data_dir).values():  # the workers outlive the server
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_soak_kill_an_instance_every_20s(soak_server: LiveServer) -> None:
    server = soak_server
    sm = server.client("sagemaker", account=ACCOUNT)
    s3 = server.client("s3", account=ACCOUNT)
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, size=(200, 2))
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(x, label=(x[:, 0] > x[:, 1]).astype(float)),
        10,
    )
    s3.create_bucket(Bucket="soak-models")
    s3.put_object(
        Bucket="soak-models",
        Key="m/model.tar.gz",
        Body=_archive("xgboost-model", bytes(booster.save_raw("ubj"))),
    )
    sm.create_model(
        ModelName="soak",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": XGBOOST, "ModelDataUrl": "s3://soak-models/m/model.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName="soak",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "soak",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 2,
            }
        ],
    )
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="soak")
    deadline = time.monotonic() + 60
    while sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, sm.describe_endpoint(EndpointName=ENDPOINT)
        time.sleep(0.1)
    assert len(_running_instances(server.data_dir)) == 2

    tally = Tally()
    stop = threading.Event()
    clients = [
        threading.Thread(target=_client_loop, args=(server.port, stop, tally), daemon=True)
        for _ in range(CONCURRENCY)
    ]

    def watch_status() -> None:
        watcher = server.client("sagemaker", account=ACCOUNT)
        while not stop.is_set():
            status = watcher.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"]
            with tally.lock:
                tally.statuses.append((time.monotonic(), status))
            stop.wait(0.25)

    watcher = threading.Thread(target=watch_status, daemon=True)
    started = time.monotonic()
    for thread in [*clients, watcher]:
        thread.start()

    kills: list[tuple[float, str, int]] = []
    recovered: list[float] = []
    try:
        next_kill = started + KILL_EVERY_SECONDS
        while time.monotonic() < started + SOAK_SECONDS:
            time.sleep(max(0.0, min(next_kill, started + SOAK_SECONDS) - time.monotonic()))
            if time.monotonic() >= started + SOAK_SECONDS:
                break
            running = _running_instances(server.data_dir)
            assert len(running) == 2, f"before kill {len(kills) + 1}: {running}"
            victim, pid = sorted(running.items())[len(kills) % 2]
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            kills.append((killed_at, victim, pid))
            # The replacement: a new instance running and the variant back at 2 ready instances.
            while True:
                now = _running_instances(server.data_dir)
                variant = sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"][0]
                if victim not in now and len(now) == 2 and variant["CurrentInstanceCount"] == 2:
                    recovered.append(time.monotonic() - killed_at)
                    break
                assert time.monotonic() - killed_at < RECOVERY_SECONDS, (
                    f"instance {victim} not replaced within {RECOVERY_SECONDS}s: {now}, {variant}"
                )
                time.sleep(0.1)
            next_kill = killed_at + KILL_EVERY_SECONDS
    finally:
        stop.set()
        for thread in [*clients, watcher]:
            thread.join(REQUEST_TIMEOUT + 5)
    assert not any(t.is_alive() for t in clients), "a client is stuck in a request (a hang)"

    outcomes = sorted(tally.outcomes, key=lambda o: o.at)
    ok = [o for o in outcomes if o.status == 200]
    errors = [o for o in outcomes if o.status != 200]
    assert kills, "the soak ended before its first kill"
    assert len(ok) > 100 * SOAK_SECONDS / 10, f"only {len(ok)} successful invocations"
    # Every error is a clean AWS-shaped 5xx answer (no dropped connection, timeout or wrong body) ...
    unclean = [o for o in errors if not 500 <= o.status < 600 or o.detail]
    assert not unclean, unclean[:5]
    # ... and only requests in flight on the killed process fail: none before the first kill, at most one
    # per client (16) after each.
    assert not [o for o in errors if o.at < kills[0][0]], errors[:5]
    bounds = [k[0] for k in kills] + [float("inf")]
    per_kill = [sum(1 for o in errors if bounds[i] <= o.at < bounds[i + 1]) for i in range(len(kills))]
    assert all(n <= CONCURRENCY for n in per_kill), per_kill
    # The endpoint never left InService, and the killed instances stayed replaced.
    assert tally.statuses and all(s == "InService" for _, s in tally.statuses), {s for _, s in tally.statuses}
    assert len(recovered) == len(kills)
    final = _running_instances(server.data_dir)
    assert len(final) == 2 and not set(final) & {k[1] for k in kills}
    assert all(_alive(pid) for pid in final.values())
    print(
        f"soak {SOAK_SECONDS:.0f}s: {len(ok)} ok, {len(errors)} errors over {len(kills)} kills {per_kill}, "
        f"recovery {', '.join(f'{r:.1f}s' for r in recovered)}"
    )
