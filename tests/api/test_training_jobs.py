"""Training jobs through boto3 against a live server: built-in XGBoost, script mode, failures, stop, logs."""

from __future__ import annotations

import io
import random
import tarfile
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemill.testing.live_server import LiveServer

XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def account() -> str:
    return str(random.randint(10**11, 10**12 - 1))


def regression_csv(rows: int, seed: int) -> bytes:
    rng = random.Random(seed)
    lines = []
    for _ in range(rows):
        x1, x2 = rng.uniform(-1, 1), rng.uniform(-1, 1)
        lines.append(f"{3 * x1 - 2 * x2 + rng.gauss(0, 0.05):.5f},{x1:.5f},{x2:.5f}")
    return ("\n".join(lines) + "\n").encode()


class Tenant:
    """One account with a bucket and clients."""

    def __init__(self, server: LiveServer) -> None:
        self.account = account()
        self.sm = server.client("sagemaker", account=self.account)
        self.s3 = server.client("s3", account=self.account)
        self.logs = server.client("logs", account=self.account)
        self.bucket = f"sm-{self.account}"
        self.s3.create_bucket(Bucket=self.bucket)

    def upload(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"

    def job(
        self, name: str, image: str, hyperparameters: dict[str, str], channels: dict[str, str], **kw: Any
    ) -> None:
        self.sm.create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
            RoleArn=ROLE,
            HyperParameters=hyperparameters,
            InputDataConfig=[
                {
                    "ChannelName": channel,
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
                    "ContentType": "text/csv",
                }
                for channel, uri in channels.items()
            ],
            OutputDataConfig={"S3OutputPath": f"s3://{self.bucket}/output"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            StoppingCondition=kw.pop("StoppingCondition", {"MaxRuntimeInSeconds": 600}),
            **kw,
        )

    def wait(self, name: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.sm.describe_training_job(TrainingJobName=name)
            if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                return dict(job)
            time.sleep(0.2)
        raise AssertionError(f"{name} did not finish: {job['TrainingJobStatus']}/{job['SecondaryStatus']}")


@pytest.fixture
def tenant(server: LiveServer) -> Tenant:
    return Tenant(server)


def test_built_in_xgboost_trains_logs_and_reports_metrics(tenant: Tenant) -> None:
    train = tenant.upload("data/train/train.csv", regression_csv(400, 1))
    validation = tenant.upload("data/validation/validation.csv", regression_csv(100, 2))
    name = f"xgb-{uuid.uuid4().hex[:8]}"
    tenant.job(
        name,
        XGBOOST,
        {"num_round": "20", "objective": "reg:squarederror", "max_depth": "3", "eta": "0.3"},
        {"train": train, "validation": validation},
    )
    job = tenant.wait(name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["SecondaryStatus"] == "Completed"
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{tenant.bucket}/output/{name}/output/model.tar.gz"
    body = tenant.s3.get_object(Bucket=tenant.bucket, Key=f"output/{name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        assert "xgboost-model" in archive.getnames()
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert set(metrics) >= {"train:rmse", "validation:rmse"}
    assert 0 < metrics["validation:rmse"] < 1.0
    assert job["TrainingTimeInSeconds"] >= 1 and job["BillableTimeInSeconds"] >= 1
    assert job["TrainingEndTime"] >= job["TrainingStartTime"]
    streams = tenant.logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/", orderBy="LogStreamName"
    )["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith(f"{name}/algo-1-")
    events = tenant.logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs",
        logStreamName=streams[0]["logStreamName"],
        startFromHead=True,
    )["events"]
    assert any("#011validation-rmse:" in e["message"] for e in events)


def test_bad_hyperparameter_fails_with_the_container_reason(tenant: Tenant) -> None:
    train = tenant.upload("bad/train.csv", regression_csv(50, 3))
    name = f"bad-hp-{uuid.uuid4().hex[:8]}"
    tenant.job(name, XGBOOST, {"num_round": "10", "no_such_param": "1"}, {"train": train})
    job = tenant.wait(name)
    assert job["TrainingJobStatus"] == "Failed"
    assert "no_such_param" in job["FailureReason"]


def test_missing_channel_data_fails_with_an_actionable_reason(tenant: Tenant) -> None:
    name = f"no-data-{uuid.uuid4().hex[:8]}"
    tenant.job(name, XGBOOST, {"num_round": "5"}, {"train": f"s3://{tenant.bucket}/nothing-here/"})
    job = tenant.wait(name)
    assert job["TrainingJobStatus"] == "Failed"
    assert "No data found in channel 'train'" in job["FailureReason"]


def test_other_tenants_bucket_is_refused(server: LiveServer, tenant: Tenant) -> None:
    other = Tenant(server)
    uri = other.upload("private/train.csv", regression_csv(50, 4))
    name = f"steal-{uuid.uuid4().hex[:8]}"
    tenant.job(name, XGBOOST, {"num_round": "5"}, {"train": uri})
    job = tenant.wait(name)
    assert job["TrainingJobStatus"] == "Failed"
    assert "not owned by account" in job["FailureReason"]


def sourcedir(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


TRAIN_PY = """
import argparse, json, os, sys
parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float)
args = parser.parse_args()
assert "AWS_SECRET_ACCESS_KEY" not in os.environ and "AWS_ACCESS_KEY_ID" not in os.environ
rows = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "train.csv")).read().split()
print(f"rows={len(rows)} alpha={args.alpha}")
print(f"score: {args.alpha * 2}")
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as out:
    json.dump({"alpha": args.alpha, "rows": len(rows)}, out)
"""


def test_script_mode_runs_the_entry_point_with_hyperparameters(tenant: Tenant) -> None:
    code = tenant.upload("code/sourcedir.tar.gz", sourcedir({"train.py": TRAIN_PY}))
    train = tenant.upload("script/train.csv", regression_csv(30, 5))
    name = f"script-{uuid.uuid4().hex[:8]}"
    tenant.sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": SKLEARN,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "score", "Regex": "score: ([0-9.]+)"}],
        },
        RoleArn=ROLE,
        HyperParameters={
            "alpha": "0.25",
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": f'"{code}"',
        },
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": train}},
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{tenant.bucket}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    job = tenant.wait(name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]} == {"score": 0.5}


def test_stop_training_job_stops_a_running_job(tenant: Tenant) -> None:
    slow = "import time\nprint('started', flush=True)\ntime.sleep(60)\n"
    code = tenant.upload("slow/sourcedir.tar.gz", sourcedir({"train.py": slow}))
    train = tenant.upload("slow/train.csv", b"1,2\n")
    name = f"stop-{uuid.uuid4().hex[:8]}"
    tenant.sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": SKLEARN, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        HyperParameters={"sagemaker_program": '"train.py"', "sagemaker_submit_directory": f'"{code}"'},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": train}},
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{tenant.bucket}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    deadline = time.monotonic() + 60
    while tenant.sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    tenant.sm.stop_training_job(TrainingJobName=name)
    assert tenant.sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    job = tenant.wait(name)
    assert job["TrainingJobStatus"] == "Stopped" and job["SecondaryStatus"] == "Stopped"
    with pytest.raises(ClientError) as caught:
        tenant.sm.stop_training_job(TrainingJobName=name)
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_api_errors_are_sagemakers(tenant: Tenant) -> None:
    with pytest.raises(ClientError) as caught:
        tenant.sm.describe_training_job(TrainingJobName="never-created")
    assert caught.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Requested resource not found.",
    }
    with pytest.raises(ClientError) as caught:
        tenant.job(
            "img",
            "123.dkr.ecr.us-east-1.amazonaws.com/my-own-image:1",
            {},
            {"train": f"s3://{tenant.bucket}/x"},
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "sagemaker-xgboost" in caught.value.response["Error"]["Message"]
    train = tenant.upload("dup/train.csv", regression_csv(20, 6))
    name = f"dup-{uuid.uuid4().hex[:8]}"
    tenant.job(name, XGBOOST, {"num_round": "2"}, {"train": train})
    with pytest.raises(ClientError) as caught:
        tenant.job(name, XGBOOST, {"num_round": "2"}, {"train": train})
    assert caught.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as caught:
        tenant.sm.create_training_job(
            TrainingJobName=f"multi-{uuid.uuid4().hex[:6]}",
            AlgorithmSpecification={"TrainingImage": XGBOOST, "TrainingInputMode": "File"},
            RoleArn=ROLE,
            OutputDataConfig={"S3OutputPath": f"s3://{tenant.bucket}/o"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 60},
        )
    assert "InstanceCount 2 is not supported" in caught.value.response["Error"]["Message"]
    summaries = tenant.sm.list_training_jobs(NameContains="dup-")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in summaries] == [name]
    tenant.wait(name)
