"""Control-plane benchmark: DescribeModel and CreateModel+DeleteModel through boto3 against a live
server, beside a no-op Starlette route served by uvicorn the same way, interleaved in one run.

Prints server-side handling time (Server-Timing) percentiles and the end-to-end throughput ratio.
Usage: python bench/control_plane.py [--seconds-per-round 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from sagemill.testing.live_server import LiveServer, free_port

HERE = Path(__file__).resolve().parent
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def start_noop(port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "noop_app:app"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(cmd)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_sagemill/health", timeout=1)
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("no-op server did not start")


def client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="123456789012",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}),
    )


def run_for(seconds: float, call: Any) -> tuple[int, list[float]]:
    """Call repeatedly for `seconds`; returns the count and the Server-Timing durations (ms)."""
    timings: list[float] = []
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        reply = call()
        header = reply["ResponseMetadata"]["HTTPHeaders"].get("server-timing", "")
        if header.startswith("app;dur="):
            timings.append(float(header[len("app;dur=") :]))
        count += 1
    return count, timings


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds-per-round", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(Path(tmp) / "data").start()
        noop_port = free_port()
        noop = start_noop(noop_port)
        try:
            sm = client(server.url)
            base = client(f"http://127.0.0.1:{noop_port}")
            sm.create_model(
                ModelName="bench-model",
                PrimaryContainer={"Image": XGBOOST_IMAGE},
                ExecutionRoleArn="arn:aws:iam::123456789012:role/bench",
            )
            counter = iter(range(10**9))

            def create_delete(c: Any) -> Any:
                name = f"bench-{next(counter)}"
                c.create_model(
                    ModelName=name,
                    PrimaryContainer={"Image": "img"},
                    ExecutionRoleArn="arn:aws:iam::123456789012:role/bench",
                )
                return c.delete_model(ModelName=name)

            for warm in (sm, base):
                for _ in range(50):
                    warm.describe_model(ModelName="bench-model")

            describe = {"sagemill": 0, "noop": 0}
            churn = {"sagemill": 0, "noop": 0}
            describe_ms: list[float] = []
            churn_ms: list[float] = []
            seconds = args.seconds_per_round
            for _ in range(args.rounds):
                n, t = run_for(seconds, lambda: sm.describe_model(ModelName="bench-model"))
                describe["sagemill"] += n
                describe_ms += t
                n, _ = run_for(seconds, lambda: base.describe_model(ModelName="bench-model"))
                describe["noop"] += n
                n, t = run_for(seconds, lambda: create_delete(sm))
                churn["sagemill"] += n
                churn_ms += t
                n, _ = run_for(seconds, lambda: create_delete(base))
                churn["noop"] += n
        finally:
            server.stop()
            noop.terminate()
            noop.wait()

    total = seconds * args.rounds
    print(f"rounds={args.rounds} x {seconds:.1f}s per side, interleaved, one boto3 client each, SQLite")
    for label, samples in (("DescribeModel", describe_ms), ("Create/DeleteModel", churn_ms)):
        p50, p99 = statistics.median(samples), pct(samples, 0.99)
        print(f"{label} server-side handling ms: p50={p50:.3f} p99={p99:.3f}")
    for label, counts in (("DescribeModel", describe), ("CreateModel+DeleteModel", churn)):
        ours, theirs = counts["sagemill"] / total, counts["noop"] / total
        print(f"{label}: sagemill {ours:.0f}/s, no-op route {theirs:.0f}/s, ratio {ours / theirs:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
