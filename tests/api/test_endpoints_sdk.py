"""Endpoints deployed, invoked and deleted by the unchanged SageMaker Python SDK v2 on the live server."""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError
from endpoint_tenant import archive
from s3_helpers import wait_until
from sklearn.linear_model import LinearRegression  # type: ignore[import-untyped]
from test_training_sdk import PRELUDE, Sdk, members, sdk_python  # noqa: F401  (sdk_python: a fixture)

from sagemill.testing.live_server import LiveServer

ROWS = [[0.5, -0.25], [0.5, -0.25], [-0.75, 0.1]]

# Reports what a user could see of the endpoint before deleting it; shared by both scripts.
RECORD = textwrap.dedent(
    """
    def record(predictor):
        sm = session.sagemaker_client
        endpoint = sm.describe_endpoint(EndpointName=predictor.endpoint_name)
        config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        container = model["PrimaryContainer"]
        return dict(endpoint=predictor.endpoint_name, config=endpoint["EndpointConfigName"],
                    model=model["ModelName"], status=endpoint["EndpointStatus"],
                    variants=endpoint["ProductionVariants"], environment=container.get("Environment", {}),
                    model_data=container.get("ModelDataUrl"))

    def rejected(predictor, rows):
        ModelError = session.sagemaker_runtime_client.exceptions.ModelError
        try:
            predictor.predict(rows)
        except ModelError as exc:
            return dict(type=type(exc).__name__, model_error=True, message=str(exc),
                        original_status=exc.response.get("OriginalStatusCode"))
        return None
    """
)

XGBOOST_DEPLOY = textwrap.dedent(
    """
    import time
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator
    from sagemaker.serializers import CSVSerializer

    estimator = Estimator(
        image_uri=image_uris.retrieve("xgboost", "us-east-1", "1.7-1"),
        role=role,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{bucket}/output",
        sagemaker_session=session,
        hyperparameters={"num_round": 10, "objective": "reg:squarederror", "max_depth": 3},
    )
    started = time.monotonic()
    estimator.fit({"train": TrainingInput(csv("train.csv", 200, 1), content_type="text/csv")}, logs=False)
    trained = time.monotonic()
    predictor = estimator.deploy(1, "ml.m5.large", serializer=CSVSerializer())
    deployed = time.monotonic()
    print()  # ends the line of status marks that the SDK printed while waiting
    rows = json.loads((work / "rows.json").read_text())
    prediction = predictor.predict(rows)
    seen = record(predictor)
    error = rejected(predictor, [row + [1.0, 2.0] for row in rows])
    predictor.delete_model()  # reads the endpoint config, so before delete_endpoint deletes that
    predictor.delete_endpoint()
    result(prediction=prediction.decode(), trained_model_data=estimator.model_data, error=error, **seen,
           seconds=dict(fit=trained - started, deploy=deployed - trained, rest=time.monotonic() - deployed))
    """
)

SKLEARN_DEPLOY = textwrap.dedent(
    """
    import time
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import CSVSerializer, JSONSerializer
    from sagemaker.sklearn import SKLearnModel, SKLearnPredictor

    model_data = S3Uploader.upload(
        str(work / "model.tar.gz"), f"s3://{bucket}/models/linear", sagemaker_session=session
    )
    model = SKLearnModel(
        model_data=model_data,
        role=role,
        entry_point="inference.py",
        source_dir=str(work / "code"),
        framework_version="1.2-1",
        sagemaker_session=session,
    )
    started = time.monotonic()
    predictor = model.deploy(1, "ml.m5.large", serializer=JSONSerializer(), deserializer=JSONDeserializer())
    deployed = time.monotonic()
    print()  # ends the line of status marks that the SDK printed while waiting
    rows = json.loads((work / "rows.json").read_text())
    as_json = predictor.predict(rows)
    # The framework's own predictor: NumpySerializer / NumpyDeserializer (application/x-npy both ways).
    as_npy = SKLearnPredictor(predictor.endpoint_name, sagemaker_session=session).predict(rows).tolist()
    csv_predictor = SKLearnPredictor(predictor.endpoint_name, sagemaker_session=session,
                                     serializer=CSVSerializer(), deserializer=JSONDeserializer())
    as_csv = csv_predictor.predict(rows)
    seen = record(predictor)
    error = rejected(predictor, [row + [1.0] for row in rows])
    predictor.delete_model()
    predictor.delete_endpoint()
    result(as_json=as_json, as_npy=as_npy, as_csv=as_csv, error=error, uploaded_model_data=model_data, **seen,
           seconds=dict(deploy=deployed - started, rest=time.monotonic() - deployed))
    """
)

INFERENCE_PY = textwrap.dedent(
    """
    import os

    import joblib


    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))


    def predict_fn(data, model):
        return model.predict(data)
    """
)


@pytest.fixture
def sdk(sdk_python: Path, server: LiveServer, tmp_path: Path) -> Sdk:  # noqa: F811
    return Sdk(sdk_python, server, tmp_path)


def run(sdk: Sdk, body: str, rows: list[list[float]], *, telemetry: bool = True) -> dict[str, Any]:
    """As Sdk.run, with the rows to predict in work/rows.json; `telemetry`: the script calls a method the
    SDK's telemetry wraps (Estimator.fit; Model.deploy is not), so its opt-out must have been read."""
    (sdk.work / "rows.json").write_text(json.dumps(rows))
    script = sdk.work / "sdk_endpoint.py"
    script.write_text(PRELUDE + RECORD + body)
    started = time.monotonic()
    done = subprocess.run(
        [str(sdk.python), str(script), sdk.bucket, sdk.account, str(sdk.work)],
        env=sdk.env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    context = f"{done.stdout[-6000:]}\n{done.stderr[-6000:]}\n{sdk.server.log()[-3000:]}"
    assert done.returncode == 0, context
    lines = [line for line in done.stdout.splitlines() if line.startswith("SAGEMILL-RESULT ")]
    assert len(lines) == 1, context
    if telemetry:
        assert "TelemetryOptOut flag is set to: True" in done.stderr, context
    print(f"SDK script took {time.monotonic() - started:.1f}s")
    return dict(json.loads(lines[0].removeprefix("SAGEMILL-RESULT ")))


def assert_gone(sdk: Sdk, out: dict[str, Any]) -> None:
    """DescribeEndpoint/EndpointConfig/Model all answer ValidationException "Could not find …"."""
    sm = sdk.server.client("sagemaker", account=sdk.account)

    def missing(call: Any, **name: str) -> str:
        try:
            call(**name)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ValidationException"
            return str(exc.response["Error"]["Message"])
        return ""

    # The endpoint is Deleting until its instances stopped.
    assert wait_until(lambda: missing(sm.describe_endpoint, EndpointName=out["endpoint"]), timeout=20)
    assert missing(sm.describe_endpoint, EndpointName=out["endpoint"]).startswith("Could not find endpoint")
    config = missing(sm.describe_endpoint_config, EndpointConfigName=out["config"])
    assert config.startswith("Could not find endpoint configuration"), config
    assert missing(sm.describe_model, ModelName=out["model"]).startswith("Could not find model")


def assert_in_service(out: dict[str, Any], image: str) -> None:
    assert out["status"] == "InService"
    [variant] = out["variants"]
    assert variant["VariantName"] == "AllTraffic"
    assert variant["CurrentInstanceCount"] == variant["DesiredInstanceCount"] == 1
    assert variant["DeployedImages"][0]["SpecifiedImage"] == image


def test_builtin_xgboost_fit_deploy_predict_delete(sdk: Sdk) -> None:
    out = run(sdk, XGBOOST_DEPLOY, ROWS)
    print(f"SDK phases: {out['seconds']}")
    assert_in_service(out, "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1")
    # CreateModel got the job's artifact (DescribeTrainingJob's S3ModelArtifacts).
    assert out["model_data"] == out["trained_model_data"]
    # The same booster, loaded here from the job's model.tar.gz, gives the endpoint's scores.
    booster = xgb.Booster()
    booster.load_model(bytearray(members(sdk.s3_object(out["model_data"])["Body"].read())["xgboost-model"]))
    expected = booster.predict(xgb.DMatrix(np.array(ROWS)))
    scores = [float(x) for x in re.split(r"[,\n]", out["prediction"].strip())]
    assert len(scores) == len(ROWS)
    assert scores[0] == scores[1]
    assert scores == pytest.approx(expected.tolist(), abs=1e-5)
    # Four features where the model has two: the container's message, as the SDK's ModelError.
    error = out["error"]
    assert error and error["type"] == "ModelError", out
    assert error["original_status"] == 400
    assert "Received client error (400) from primary with message" in error["message"]
    assert (
        "Feature size of csv inference data 4 is not consistent with feature size of trained model 2"
        in (error["message"])
    )
    assert_gone(sdk, out)


def test_sklearn_script_mode_model_deploys_source_dir_and_predicts(sdk: Sdk) -> None:
    x = np.random.default_rng(7).uniform(-1, 1, size=(50, 2))
    regression = LinearRegression().fit(x, 3 * x[:, 0] - 2 * x[:, 1] + 1)
    saved = io.BytesIO()
    joblib.dump(regression, saved)
    (sdk.work / "model.tar.gz").write_bytes(archive({"model.joblib": saved.getvalue()}))
    code = sdk.work / "code"
    code.mkdir()
    (code / "inference.py").write_text(INFERENCE_PY)

    out = run(sdk, SKLEARN_DEPLOY, ROWS, telemetry=False)
    print(f"SDK phases: {out['seconds']}")
    assert_in_service(
        out, "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    )
    # No repack: the model data is ours, the code went up separately as sourcedir.tar.gz.
    environment = out["environment"]
    assert out["model_data"] == out["uploaded_model_data"]
    assert environment["SAGEMAKER_PROGRAM"] == "inference.py"
    source = environment["SAGEMAKER_SUBMIT_DIRECTORY"]
    assert source.startswith(f"s3://{sdk.bucket}/") and source.endswith("/sourcedir.tar.gz"), environment
    assert "inference.py" in members(sdk.s3_object(source)["Body"].read())
    expected = [3 * a - 2 * b + 1 for a, b in ROWS]
    for answer in ("as_json", "as_npy", "as_csv"):  # CSV is decoded as float32
        assert out[answer] == pytest.approx(expected, abs=1e-6), answer
    # Three features for a two-feature model: sklearn's ValueError, surfaced as the SDK's ModelError.
    error = out["error"]
    assert error and error["type"] == "ModelError", out
    assert error["original_status"] == 500
    assert "Received server error (500) from primary with message" in error["message"]
    assert "X has 3 features, but LinearRegression is expecting 2 features as input" in error["message"]
    assert_gone(sdk, out)


@pytest.mark.parametrize("problem", ["escaping member", "other account's bucket"])
def test_submit_directory_archive_is_fetched_safely(server: LiveServer, problem: str) -> None:
    """SAGEMAKER_SUBMIT_DIRECTORY as the SDK sets it is extracted like model data: unsafe or foreign fails."""
    account, other = (str(random.randint(10**11, 10**12 - 1)) for _ in range(2))
    owner = other if problem == "other account's bucket" else account
    s3 = server.client("s3", account=owner)
    bucket = f"code-{owner}"
    s3.create_bucket(Bucket=bucket)
    source = {"../escape.py": b"x = 1\n"} if problem == "escaping member" else {"inference.py": b"x = 1\n"}
    s3.put_object(Bucket=bucket, Key="m/sourcedir.tar.gz", Body=archive(source))
    sm = server.client("sagemaker", account=account)
    sm.create_model(
        ModelName="script",
        ExecutionRoleArn=f"arn:aws:iam::{account}:role/SageMakerRole",
        PrimaryContainer={
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/m/sourcedir.tar.gz",
            },
        },
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "script", "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(
        EndpointConfigName="script", ProductionVariants=[{**variant, "InitialInstanceCount": 1}]
    )
    sm.create_endpoint(EndpointName="script", EndpointConfigName="script")

    def status() -> dict[str, Any]:
        return dict(sm.describe_endpoint(EndpointName="script"))

    assert wait_until(lambda: status()["EndpointStatus"] != "Creating", timeout=20)
    described = status()
    assert described["EndpointStatus"] == "Failed"
    if problem == "escaping member":
        assert "unsafe archive member '../escape.py'" in described["FailureReason"]
    else:
        assert (
            f"bucket {bucket} does not exist or is not owned by account {account}"
            in (described["FailureReason"])
        )
    sm.delete_endpoint(EndpointName="script")
