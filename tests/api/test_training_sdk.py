"""Training jobs driven by the unchanged SageMaker Python SDK v2 (its own venv) against the live server."""

from __future__ import annotations

import io
import json
import random
import subprocess
import tarfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from s3_helpers import tool_env, tool_venv, unique

from sagemill.testing.live_server import LiveServer

# Shared by the scripts: a session on a named bucket (no STS), CSV data, and a result line for the test.
PRELUDE = textwrap.dedent(
    """
    import json, logging, random, sys
    from pathlib import Path

    import sagemaker
    from sagemaker.inputs import TrainingInput
    from sagemaker.s3 import S3Uploader
    from sagemaker.session import Session

    # The telemetry wrapper reports its opt-out flag at DEBUG; the test checks it was read as True.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("sagemaker.telemetry").setLevel(logging.DEBUG)

    bucket, account, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    role = f"arn:aws:iam::{account}:role/SageMakerRole"
    session = Session(default_bucket=bucket)
    assert session.default_bucket() == bucket  # ListBuckets, HeadBucket, CreateBucket

    def csv(name, rows, seed):
        rng = random.Random(seed)
        lines = []
        for _ in range(rows):
            x1, x2 = rng.uniform(-1, 1), rng.uniform(-1, 1)
            lines.append(f"{3 * x1 - 2 * x2 + rng.gauss(0, 0.05):.5f},{x1:.5f},{x2:.5f}")
        path = work / name
        path.write_text("\\n".join(lines) + "\\n")
        return S3Uploader.upload(str(path), f"s3://{bucket}/data/{path.stem}", sagemaker_session=session)

    def result(**values):
        print("SAGEMILL-RESULT " + json.dumps(values, default=str), flush=True)
    """
)

XGBOOST = textwrap.dedent(
    """
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator

    estimator = Estimator(
        image_uri=image_uris.retrieve("xgboost", "us-east-1", "1.7-1"),
        role=role,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{bucket}/output",
        sagemaker_session=session,
        hyperparameters={"num_round": 10, "objective": "reg:squarederror", "max_depth": 3},
    )
    estimator.fit(
        {
            "train": TrainingInput(csv("train.csv", 300, 1), content_type="text/csv"),
            "validation": TrainingInput(csv("validation.csv", 100, 2), content_type="text/csv"),
        },
        logs="All",
        wait=True,
    )
    job = estimator.latest_training_job.describe()
    result(
        job=estimator.latest_training_job.name,
        model_data=estimator.model_data,
        status=job["TrainingJobStatus"],
        metrics={m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])},
        image=job["AlgorithmSpecification"]["TrainingImage"],
    )
    """
)

SKLEARN = textwrap.dedent(
    """
    from sagemaker.sklearn import SKLearn

    estimator = SKLearn(
        entry_point="train.py",
        source_dir=str(work / "code"),
        framework_version="1.2-1",
        py_version="py3",
        role=role,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{bucket}/output",
        sagemaker_session=session,
        hyperparameters={"alpha": 0.5},
        metric_definitions=[{"Name": "score", "Regex": "score: ([0-9.]+)"}],
    )
    channel = csv("train.csv", 40, 3)
    try:
        estimator.fit({"train": channel}, logs="All", wait=True)
    except sagemaker.exceptions.UnexpectedStatusException as exc:
        job = estimator.latest_training_job.describe()
        result(job=job["TrainingJobName"], raised=type(exc).__name__, message=str(exc),
               status=job["TrainingJobStatus"], failure_reason=job.get("FailureReason"))
    else:
        job = estimator.latest_training_job.describe()
        result(
            job=job["TrainingJobName"],
            raised=None,
            model_data=estimator.model_data,
            status=job["TrainingJobStatus"],
            metrics={m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])},
            hyperparameters=job["HyperParameters"],
            image=job["AlgorithmSpecification"]["TrainingImage"],
        )
    """
)

TRAIN_PY = textwrap.dedent(
    """
    import argparse, json, os

    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float)
    parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
    args = parser.parse_args()
    rows = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "train.csv")).read().split()
    print(f"rows={len(rows)} alpha={args.alpha}")
    print(f"score: {args.alpha * 2}")
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as out:
        json.dump({"alpha": args.alpha, "rows": len(rows)}, out)
    """
)

FAILING_TRAIN_PY = textwrap.dedent(
    """
    import os
    print("about to fail")
    raise ValueError("sagemill-sdk-bad-input: alpha must be positive")
    """
)


@pytest.fixture(scope="module")
def sdk_python() -> Path:
    home = tool_venv("sagemaker-sdk", ["sagemaker>=2.200,<3"], ["-c", "import sagemaker"])
    return home / "bin" / "python"


class Sdk:
    """Runs PRELUDE + a script in the SDK's venv as one tenant (account, bucket) of the live server."""

    def __init__(self, python: Path, server: LiveServer, work: Path) -> None:
        self.python = python
        self.server = server
        self.work = work
        self.account = str(random.randint(10**11, 10**12 - 1))
        self.bucket = unique("sdk-train")
        config = work / "sagemaker-config.yaml"
        config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
        self.env = tool_env(server, account=self.account)
        self.env |= {
            "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
            "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
            "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(work / "no-admin-config.yaml"),
            # Anything aimed past the live server (real STS, the telemetry GET) fails at once.
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
        }

    def run(self, body: str) -> tuple[dict[str, Any], str]:
        script = self.work / "sdk_training.py"
        script.write_text(PRELUDE + body)
        started = time.monotonic()
        done = subprocess.run(
            [str(self.python), str(script), self.bucket, self.account, str(self.work)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        elapsed = time.monotonic() - started
        context = f"{done.stdout[-6000:]}\n{done.stderr[-6000:]}\n{self.server.log()[-3000:]}"
        assert done.returncode == 0, context
        lines = [line for line in done.stdout.splitlines() if line.startswith("SAGEMILL-RESULT ")]
        assert len(lines) == 1, context
        assert "TelemetryOptOut flag is set to: True" in done.stderr, context
        print(f"SDK script took {elapsed:.1f}s")
        return json.loads(lines[0].removeprefix("SAGEMILL-RESULT ")), done.stdout

    def s3_object(self, uri: str) -> dict[str, Any]:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        s3 = self.server.client("s3", account=self.account)
        return dict(s3.get_object(Bucket=bucket, Key=key))


@pytest.fixture
def sdk(sdk_python: Path, server: LiveServer, tmp_path: Path) -> Sdk:
    return Sdk(sdk_python, server, tmp_path)


def members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {
            m.name.removeprefix("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def test_builtin_xgboost_fit_streams_logs_and_reports_metrics(sdk: Sdk) -> None:
    out, stdout = sdk.run(XGBOOST)
    job = out["job"]
    assert out["status"] == "Completed"
    assert out["image"] == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    # logs="All": DescribeLogStreams + GetLogEvents printed the container's evaluation lines.
    assert "#011train-rmse:" in stdout and "#011validation-rmse:" in stdout, stdout
    assert "Completed - Training job completed" in stdout
    assert "Training seconds:" in stdout and "Billable seconds:" in stdout
    assert out["model_data"] == f"s3://{sdk.bucket}/output/{job}/output/model.tar.gz"
    assert "xgboost-model" in members(sdk.s3_object(out["model_data"])["Body"].read())
    assert {"train:rmse", "validation:rmse"} <= set(out["metrics"])
    assert 0 < out["metrics"]["validation:rmse"] < 1.0


def test_sklearn_script_mode_uploads_source_and_runs_the_entry_point(sdk: Sdk) -> None:
    code = sdk.work / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN_PY)
    (code / "requirements.txt").write_text("")
    out, stdout = sdk.run(SKLEARN)
    job = out["job"]
    assert out["raised"] is None and out["status"] == "Completed"
    assert out["image"] == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    hyperparameters = out["hyperparameters"]
    source = f"s3://{sdk.bucket}/{job}/source/sourcedir.tar.gz"
    assert hyperparameters["sagemaker_program"] == '"train.py"'
    assert hyperparameters["sagemaker_submit_directory"] == json.dumps(source)
    assert hyperparameters["alpha"] == "0.5"
    uploaded = sdk.s3_object(source)
    assert uploaded["ServerSideEncryption"] == "aws:kms"
    assert set(members(uploaded["Body"].read())) >= {"train.py", "requirements.txt"}
    assert "rows=40 alpha=0.5" in stdout and "score: 1.0" in stdout, stdout
    assert out["metrics"] == {"score": 1.0}
    assert out["model_data"] == f"s3://{sdk.bucket}/output/{job}/output/model.tar.gz"
    model = members(sdk.s3_object(out["model_data"])["Body"].read())
    assert json.loads(model["model.json"]) == {"alpha": 0.5, "rows": 40}


def test_failing_script_raises_unexpected_status_with_the_failure_reason(sdk: Sdk) -> None:
    code = sdk.work / "code"
    code.mkdir()
    (code / "train.py").write_text(FAILING_TRAIN_PY)
    out, stdout = sdk.run(SKLEARN)
    assert out["raised"] == "UnexpectedStatusException"
    assert out["status"] == "Failed"
    reason = out["failure_reason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:")
    assert "sagemill-sdk-bad-input: alpha must be positive" in reason
    assert f"Error for Training job {out['job']}: Failed. Reason: {reason}" in out["message"]
    assert "about to fail" in stdout  # the logs were streamed before the SDK raised
