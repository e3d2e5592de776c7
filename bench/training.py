"""Training benchmark: built-in XGBoost through Sagemill vs `xgboost.train` called directly, in one run.

Prints (1) platform overhead per job: create → Completed wall time minus the algorithm's own time
(measured by calling xgboost.train directly on the same data and parameters), p50 over small jobs;
(2) for a long training (about 30 s directly), Sagemill's wall time against the direct call.
Usage: python bench/training.py [--jobs 10] [--long-rounds 0 (auto: about 30 s)]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import xgboost

from sagemill.testing.live_server import LiveServer

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ACCOUNT = "135791357913"
BUCKET = "bench-training"


def dataset(rows: int, features: int, seed: int) -> tuple[np.ndarray, bytes]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    y = x @ rng.normal(size=features) + rng.normal(scale=0.1, size=rows)
    table = np.column_stack([y, x])
    lines = "\n".join(",".join(f"{v:.6g}" for v in row) for row in table)
    return table, (lines + "\n").encode()


def direct_seconds(table: np.ndarray, params: dict[str, Any], rounds: int) -> float:
    started = time.perf_counter()
    matrix = xgboost.DMatrix(table[:, 1:], label=table[:, 0])
    xgboost.train(params, matrix, num_boost_round=rounds, evals=[(matrix, "train")], verbose_eval=False)
    return time.perf_counter() - started


def run_job(sm: Any, name: str, rounds: int, depth: int, poll: float = 0.05) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/bench",
        HyperParameters={"num_round": str(rounds), "max_depth": str(depth), "objective": "reg:squarederror"},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{name}/"}},
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    while True:
        job = sm.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(poll)
    if job["TrainingJobStatus"] != "Completed":
        raise RuntimeError(f"{name}: {job.get('FailureReason')}")
    return time.perf_counter() - started, job


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--long-rounds", type=int, default=0, help="0: pick rounds for about 30 s directly")
    args = parser.parse_args()
    small_table, small_csv = dataset(2000, 10, 1)
    big_table, big_csv = dataset(200_000, 20, 2)
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(Path(tmp) / "data").start()
        try:
            sm = server.client("sagemaker", account=ACCOUNT)
            s3 = server.client("s3", account=ACCOUNT)
            s3.create_bucket(Bucket=BUCKET)
            # The job's thread count is its instance's vCPUs capped by the machine (ml.m5.large: 2).
            params = {"max_depth": 3, "objective": "reg:squarederror", "nthread": 2}
            overheads = []
            for i in range(args.jobs):
                name = f"small-{i}"
                s3.put_object(Bucket=BUCKET, Key=f"{name}/train.csv", Body=small_csv)
                wall, _ = run_job(sm, name, 10, 3)
                overheads.append(wall - direct_seconds(small_table, params, 10))
            params_long = {"max_depth": 8, "objective": "reg:squarederror", "nthread": 2}
            rounds = args.long_rounds
            if not rounds:
                # Per-round cost from two runs, so the fixed cost of building the matrix cancels out.
                short, longer = (direct_seconds(big_table, params_long, n) for n in (20, 80))
                per_round = max((longer - short) / 60, 1e-3)
                rounds = max(20, int(30 / per_round))
            direct = direct_seconds(big_table, params_long, rounds)
            s3.put_object(Bucket=BUCKET, Key="long/train.csv", Body=big_csv)
            # Polled once a second, as a user would (the SDK polls every 30 s): on two cores a client
            # asking 20 times a second would take CPU from the training it measures.
            wall, job = run_job(sm, "long", rounds, 8, poll=1.0)
            direct_again = direct_seconds(big_table, params_long, rounds)
        finally:
            server.stop()
    direct_mean = (direct + direct_again) / 2
    print(f"platform overhead per small job (create -> Completed minus xgboost.train), {args.jobs} jobs:")
    print(f"  p50={statistics.median(overheads):.2f}s  min={min(overheads):.2f}s  max={max(overheads):.2f}s")
    training = (job["TrainingEndTime"] - job["TrainingStartTime"]).total_seconds()
    print(f"long training, {rounds} rounds on 200,000 x 20 rows x features:")
    print(f"  direct xgboost.train before/after: {direct:.1f}s/{direct_again:.1f}s")
    print(f"  sagemill create -> Completed {wall:.1f}s, ratio to direct {wall / direct_mean:.3f}")
    print(f"  sagemill Training phase {training:.1f}s, ratio to direct {training / direct_mean:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
