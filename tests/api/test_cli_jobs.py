"""`sagemill jobs list` and `sagemill jobs follow` against a live server."""

from __future__ import annotations

import subprocess
import sys
import time

from live_helpers import cli_env, run_sagemill

from sagemill.testing.live_server import LiveServer

XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ACCOUNT = "777788889999"


def test_follow_prints_statuses_logs_and_metrics(server: LiveServer) -> None:
    s3 = server.client("s3", account=ACCOUNT)
    sm = server.client("sagemaker", account=ACCOUNT)
    s3.create_bucket(Bucket="cli-follow")
    rows = "\n".join(f"{i % 7},{i % 5},{i % 3}" for i in range(200)) + "\n"
    s3.put_object(Bucket="cli-follow", Key="train/data.csv", Body=rows.encode())
    sm.create_training_job(
        TrainingJobName="cli-follow-job",
        AlgorithmSpecification={"TrainingImage": XGBOOST, "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::777788889999:role/r",
        HyperParameters={"num_round": "5", "objective": "reg:squarederror"},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://cli-follow/train/"}},
            }
        ],
        OutputDataConfig={"S3OutputPath": "s3://cli-follow/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300},
    )
    env = cli_env(server, ACCOUNT)
    started = time.monotonic()
    follow = subprocess.run(
        [sys.executable, "-m", "sagemill", "jobs", "follow", "cli-follow-job", "--interval", "0.2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert follow.returncode == 0, follow.stderr
    out = follow.stdout
    # The job may already be done when `follow` first looks (training takes about a second here).
    assert out.startswith("[") and "[Completed / Completed] Training job completed" in out
    assert "\ttrain-rmse:" in out
    assert "train:rmse = " in out
    assert time.monotonic() - started < 120
    listing = run_sagemill(server, ACCOUNT, "jobs", "list")
    line = next(line for line in listing.splitlines() if line.startswith("cli-follow-job"))
    assert "Completed" in line
