"""SIGKILL mid-burst of CreateModel: acknowledged models survive whole; nothing half-made or invented."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sagemill.testing.live_server import LiveServer

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SagemillCrash"
CALLS = 300
THREADS = 8
KILL_POINTS = (15, 100)


def _request(run: str, index: int) -> dict[str, Any]:
    name = f"crash-{run}-{index:04d}"
    return {
        "ModelName": name,
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {
            "Image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/crash:{index}",
            "ModelDataUrl": f"s3://crash-bucket/{run}/{index}/model.tar.gz",
            "Environment": {"INDEX": str(index), "RUN": run},
        },
        "Tags": [{"Key": "run", "Value": run}, {"Key": "index", "Value": str(index)}],
    }


def _client(server: LiveServer) -> Any:
    return server.client("sagemaker", connect_timeout=5, read_timeout=10)


def _burst(server: LiveServer, run: str, kill_after: int) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """CreateModel CALLS times from THREADS threads; SIGKILL once `kill_after` calls were answered 200.

    Returns (every request by name, {name: ModelArn} for the calls answered 200).
    """
    requests = {r["ModelName"]: r for r in (_request(run, i) for i in range(CALLS))}
    acked: dict[str, str] = {}
    lock = threading.Lock()
    enough = threading.Event()
    local = threading.local()

    def create(request: dict[str, Any]) -> None:
        if not hasattr(local, "client"):
            local.client = _client(server)
        try:
            reply = local.client.create_model(**request)
        except Exception:
            return  # refused, reset or cut off by the kill: not acknowledged
        assert reply["ResponseMetadata"]["HTTPStatusCode"] == 200
        with lock:
            acked[request["ModelName"]] = reply["ModelArn"]
            if len(acked) >= kill_after:
                enough.set()

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(create, request) for request in requests.values()]
        assert enough.wait(60), f"only {len(acked)} calls answered before the kill:\n{server.log()[-4000:]}"
        server.kill()
        for future in futures:
            future.result()
    assert server.process is not None and server.process.returncode == -9
    return requests, acked


def _stored_models(client: Any) -> list[str]:
    paginator = client.get_paginator("list_models")
    return [
        m["ModelName"]
        for page in paginator.paginate(PaginationConfig={"PageSize": 100})
        for m in page["Models"]
    ]


def _integrity(data_dir: Path) -> str:
    connection = sqlite3.connect(f"file:{data_dir / 'sagemill.db'}?mode=ro", uri=True)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def test_sigkill_mid_burst_keeps_every_acknowledged_model_whole(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    requested: dict[str, dict[str, Any]] = {}
    acked: dict[str, str] = {}
    # Two crashes at different points on the same data: early in a burst on a fresh database,
    # then later in a burst on the database the first crash left behind.
    for round_no, kill_after in enumerate(KILL_POINTS):
        live = LiveServer(data_dir).start()
        try:
            round_requests, round_acked = _burst(live, f"{uuid.uuid4().hex[:6]}r{round_no}", kill_after)
        finally:
            live.stop()
        requested.update(round_requests)
        acked.update(round_acked)
        assert 0 < len(round_acked) < CALLS, "the kill did not land in the middle of the burst"

    restarted = LiveServer(data_dir).start()
    try:
        client = _client(restarted)
        stored = _stored_models(client)
        assert len(stored) == len(set(stored)), "a model is listed twice"
        assert set(stored) <= set(requested), f"models nobody asked for: {set(stored) - set(requested)}"
        missing = set(acked) - set(stored)
        assert not missing, f"acknowledged with 200 but lost in the crash: {sorted(missing)}"

        for name in stored:
            sent = requested[name]
            described = client.describe_model(ModelName=name)
            assert described["ModelName"] == name
            assert described["ExecutionRoleArn"] == sent["ExecutionRoleArn"]
            assert described["PrimaryContainer"] == sent["PrimaryContainer"]
            assert "Containers" not in described
            if name in acked:
                assert described["ModelArn"] == acked[name]
            tags = client.list_tags(ResourceArn=described["ModelArn"])["Tags"]
            assert sorted(tags, key=lambda t: t["Key"]) == sorted(sent["Tags"], key=lambda t: t["Key"])
    finally:
        restarted.stop()
    assert _integrity(data_dir) == "ok"
