"""Training jobs driven by the unchanged SageMaker Python SDK v2 (its own venv) against the live server."""

from __future__ import annotations

import io
import json
import random
import re
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
    # A later notebook re-binds to the job from its description alone (DescribeTrainingJob, ListTags).
    attached = Estimator.attach(job["TrainingJobName"], sagemaker_session=session)
    result(
        job=estimator.latest_training_job.name,
        model_data=estimator.model_data,
        status=job["TrainingJobStatus"],
        metrics={m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])},
        image=job["AlgorithmSpecification"]["TrainingImage"],
        attached=dict(
            model_data=attached.model_data,
            image=attached.training_image_uri(),
            hyperparameters=attached.hyperparameters(),
            output_path=attached.output_path,
            output_kms_key=attached.output_kms_key,
            instance_type=attached.instance_type,
        ),
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
    estimator.fit({"train": csv("train.csv", 40, 3)}, logs="All", wait=True)
    job = estimator.latest_training_job.describe()
    result(
        job=job["TrainingJobName"],
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

# Runs ~8 s, past the SDK's first DescribeTrainingJob (5 s after create), so the logs are tailed while
# the job runs; bursts of three lines usually share a timestamp, exercising the SDK's (timestamp, skip).
FAILING_TRAIN_PY = textwrap.dedent(
    """
    import time
    for i in range(8):
        for j in range(3):
            print(f"tick {i}.{j}", flush=True)
        time.sleep(1)
    print("about to fail", flush=True)
    raise ValueError("sagemill-sdk-bad-input: alpha must be positive")
    """
)

# What users do to follow a job started with wait=False: Session.logs_for_job (poll=1 s between log reads).
TAIL_FAILING = textwrap.dedent(
    """
    from sagemaker.exceptions import UnexpectedStatusException
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
    )
    estimator.fit({"train": csv("train.csv", 10, 4)}, wait=False)
    name = estimator.latest_training_job.name
    try:
        session.logs_for_job(name, wait=True, poll=1)
    except UnexpectedStatusException as exc:
        job = session.describe_training_job(name)
        result(job=name, raised=type(exc).__name__, message=str(exc), actual_status=exc.actual_status,
               status=job["TrainingJobStatus"], failure_reason=job.get("FailureReason"))
    else:
        result(job=name, raised=None)
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
        config.write_text(
            "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"
        )
        self.env = tool_env(server, account=self.account)
        self.env |= {
            "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
            "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
            # Anything aimed past the live server (real STS, the telemetry GET) fails at once.
            **{
                name: "http://127.0.0.1:9"
                for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
            },
            **{name: "127.0.0.1,localhost" for name in ("NO_PROXY", "no_proxy")},
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
    # logs="All": DescribeLogStreams + GetLogEvents printed the container's evaluation lines, each once
    # (the tab is "#011" in the log events, as rsyslog writes it on SageMaker; the SDK prints it as is).
    rounds = re.findall(r"^\[(\d+)\]#011train-rmse:[\d.]+#011validation-rmse:[\d.]+$", stdout, re.M)
    assert rounds == [str(n) for n in range(10)], stdout
    assert "Completed - Training job completed" in stdout
    assert "Training seconds:" in stdout and "Billable seconds:" in stdout
    assert out["model_data"] == f"s3://{sdk.bucket}/output/{job}/output/model.tar.gz"
    assert "xgboost-model" in members(sdk.s3_object(out["model_data"])["Body"].read())
    assert {"train:rmse", "validation:rmse"} <= set(out["metrics"])
    assert 0 < out["metrics"]["validation:rmse"] < 1.0
    assert out["attached"] == {
        "model_data": out["model_data"],
        "image": out["image"],
        "hyperparameters": {"num_round": "10", "objective": "reg:squarederror", "max_depth": "3"},
        "output_path": f"s3://{sdk.bucket}/output",
        "output_kms_key": "",
        "instance_type": "ml.m5.large",
    }


def test_sklearn_script_mode_uploads_source_and_runs_the_entry_point(sdk: Sdk) -> None:
    code = sdk.work / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN_PY)
    (code / "requirements.txt").write_text("")
    out, stdout = sdk.run(SKLEARN)
    job = out["job"]
    assert out["status"] == "Completed"
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


def test_failing_script_tailed_with_logs_for_job_raises_the_failure_reason(sdk: Sdk) -> None:
    code = sdk.work / "code"
    code.mkdir()
    (code / "train.py").write_text(FAILING_TRAIN_PY)
    out, stdout = sdk.run(TAIL_FAILING)
    assert out["raised"] == "UnexpectedStatusException"
    assert out["status"] == out["actual_status"] == "Failed"
    reason = out["failure_reason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:")
    assert "ValueError: sagemill-sdk-bad-input: alpha must be positive" in reason
    assert f"Error for Training job {out['job']}: Failed. Reason: {reason}" in out["message"]
    # Every line exactly once and in order, though read over several GetLogEvents rounds.
    ticks = [line for line in stdout.splitlines() if line.startswith("tick ")]
    assert ticks == [f"tick {i}.{j}" for i in range(8) for j in range(3)], stdout
    assert stdout.count("about to fail") == 1
    # The job was still running when tailing began: its end is reported after its logs.
    assert stdout.index("tick 7.2") < stdout.index("Failed - Training job failed"), stdout
