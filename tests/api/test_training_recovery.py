"""A SIGKILL of the server while jobs train: after a restart every job ends with its true status."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path
from typing import Any

from sagemill.testing.live_server import LiveServer

SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ACCOUNT = "444455556666"

TRAIN_PY = """
import os, sys, time
seconds = float(sys.argv[sys.argv.index("--seconds") + 1])
code = int(sys.argv[sys.argv.index("--exit-code") + 1])
release = sys.argv[sys.argv.index("--release-file") + 1]
print("training", flush=True)
time.sleep(seconds)
deadline = time.time() + 120
while release != "none" and not os.path.exists(release) and time.time() < deadline:
    time.sleep(0.1)
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("done")
if code:
    failure = os.path.join(os.environ["SM_OUTPUT_DIR"], "failure")
    open(failure, "w").write("AlgorithmError: the script chose to fail")
sys.exit(code)
"""


def _sourcedir() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = TRAIN_PY.encode()
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _create(
    sm: Any, name: str, code: str, bucket: str, seconds: float, exit_code: int, release: str = "none"
) -> None:
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": SKLEARN, "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::444455556666:role/r",
        HyperParameters={
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": f'"{code}"',
            "seconds": str(seconds),
            "exit-code": str(exit_code),
            "release-file": release,
        },
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/"}},
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )


def _wait(sm: Any, name: str, statuses: tuple[str, ...], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sm.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] in statuses or job["SecondaryStatus"] in statuses:
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"{name}: {job['TrainingJobStatus']}/{job['SecondaryStatus']}")


def test_jobs_end_with_their_true_status_after_a_server_crash(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir, extra_args=["--log-level", "info"]).start()
    sm, s3 = server.client("sagemaker", account=ACCOUNT), server.client("s3", account=ACCOUNT)
    bucket = "crash-bucket"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="data/train.csv", Body=b"1,2\n")
    s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=_sourcedir())
    code = f"s3://{bucket}/code/sourcedir.tar.gz"
    # One finishes while the server is down, one fails while it is down, one is still running at restart.
    _create(sm, "finishes-while-down", code, bucket, 1.5, 0)
    _create(sm, "fails-while-down", code, bucket, 1.5, 3)
    # This one runs until the test releases it, so it is certainly still running at the restart.
    release = tmp_path / "release"
    _create(sm, "outlives-the-restart", code, bucket, 0, 0, str(release))
    for name in ("finishes-while-down", "fails-while-down", "outlives-the-restart"):
        _wait(sm, name, ("Training",))
    server.kill()
    time.sleep(2.5)

    restarted = LiveServer(data_dir, port=server.port).start()
    try:
        sm = restarted.client("sagemaker", account=ACCOUNT)
        done = _wait(sm, "finishes-while-down", ("Completed", "Failed", "Stopped"))
        assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
        assert (
            done["ModelArtifacts"]["S3ModelArtifacts"]
            == f"s3://{bucket}/out/finishes-while-down/output/model.tar.gz"
        )
        failed = _wait(sm, "fails-while-down", ("Completed", "Failed", "Stopped"))
        assert failed["TrainingJobStatus"] == "Failed"
        assert failed["FailureReason"] == "AlgorithmError: the script chose to fail"
        running = sm.describe_training_job(TrainingJobName="outlives-the-restart")
        assert running["TrainingJobStatus"] == "InProgress"
        release.touch()
        finished = _wait(sm, "outlives-the-restart", ("Completed", "Failed", "Stopped"))
        assert finished["TrainingJobStatus"] == "Completed", finished.get("FailureReason")
        s3 = restarted.client("s3", account=ACCOUNT)
        for name in ("finishes-while-down", "outlives-the-restart"):
            s3.head_object(Bucket=bucket, Key=f"out/{name}/output/model.tar.gz")
        logs = restarted.client("logs", account=ACCOUNT)
        streams = logs.describe_log_streams(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="outlives-the-restart/"
        )["logStreams"]
        events = logs.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs",
            logStreamName=streams[0]["logStreamName"],
            startFromHead=True,
        )["events"]
        assert [e["message"] for e in events].count("training") == 1
    finally:
        restarted.stop()
