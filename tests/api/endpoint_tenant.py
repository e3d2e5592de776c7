"""Shared pieces of the endpoint API tests: XGBoost models, and a tenant that deploys and invokes them."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import time
import uuid
from typing import Any

import numpy as np
import xgboost as xgb
from botocore.exceptions import ClientError
from live_helpers import new_account

from sagemill.testing.live_server import LiveServer

XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
ROWS = [[0.5, -0.25], [-0.75, 0.1], [0.0, 0.0]]


def booster(seed: int) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(200, 2))
    y = 3 * x[:, 0] - 2 * x[:, 1]
    return xgb.train({"max_depth": 3, "eta": 0.3, "nthread": 1}, xgb.DMatrix(x, label=y), 10)


def wrong_features() -> xgb.Booster:
    """A model trained on four features: every request with the two-column ROWS fails in it."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, size=(100, 4))
    return xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(x, label=x[:, 0]), 3)


def archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def expected(model: xgb.Booster) -> list[float]:
    """What the model predicts for ROWS, computed here."""
    return [float(v) for v in model.predict(xgb.DMatrix(np.array(ROWS)))]


def predictions(reply: Any) -> list[float]:
    """The scores of an InvokeEndpoint reply with Accept: application/json."""
    payload = json.loads(reply["Body"].read())
    return [float(p["score"]) for p in payload["predictions"]]


class Tenant:
    """One account with a bucket, clients, and helpers to deploy models."""

    def __init__(self, server: LiveServer) -> None:
        self.account = new_account()
        self.sm = server.client("sagemaker", account=self.account)
        self.s3 = server.client("s3", account=self.account)
        self.runtime = server.client("sagemaker-runtime", account=self.account)
        self.logs = server.client("logs", account=self.account)
        self.cw = server.client("cloudwatch", account=self.account)
        self.bucket = f"models-{self.account}"
        self.s3.create_bucket(Bucket=self.bucket)

    def model(self, model: xgb.Booster | None = None, raw: bytes | None = None) -> str:
        name = f"m-{uuid.uuid4().hex[:8]}"
        data = raw if raw is not None else bytes((model or booster(1)).save_raw("ubj"))
        key = f"{name}/model.tar.gz"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=archive({"xgboost-model": data}))
        self.sm.create_model(
            ModelName=name,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": XGBOOST, "ModelDataUrl": f"s3://{self.bucket}/{key}"},
        )
        return name

    def config(self, variants: list[tuple[str, str, int, float]]) -> str:
        name = f"c-{uuid.uuid4().hex[:8]}"
        self.sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": variant,
                    "ModelName": model,
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": count,
                    "InitialVariantWeight": weight,
                }
                for variant, model, count, weight in variants
            ],
        )
        return name

    def wait(self, name: str, timeout: float = 30.0, until: tuple[str, ...] = ("InService", "Failed")) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            endpoint = self.sm.describe_endpoint(EndpointName=name)
            if endpoint["EndpointStatus"] in until or time.monotonic() > deadline:
                return endpoint
            time.sleep(0.05)

    def deploy(self, variants: list[tuple[str, str, int, float]]) -> tuple[str, float]:
        """A new endpoint of these (variant, model, instances, weight), and the seconds it took to serve."""
        name, _, seconds = self.deploy_config(self.config(variants))
        return name, seconds

    def deploy_config(self, config: str, timeout: float = 30.0) -> tuple[str, str, float]:
        """A new endpoint of `config` once InService: (endpoint, config, seconds it took to serve)."""
        name = f"ep-{uuid.uuid4().hex[:8]}"
        self.sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
        started = time.monotonic()
        endpoint = self.wait(name, timeout)
        assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
        return name, config, time.monotonic() - started

    def delete_endpoints(self) -> None:
        """Delete what a test left behind: endpoint instances hold capacity that training waits for."""
        for endpoint in self.sm.list_endpoints(MaxResults=100)["Endpoints"]:
            if endpoint["EndpointStatus"] != "Deleting":
                with contextlib.suppress(ClientError):  # deleted meanwhile
                    self.sm.delete_endpoint(EndpointName=endpoint["EndpointName"])

    def invoke(self, name: str, **kw: Any) -> Any:
        body = "\n".join(",".join(str(v) for v in row) for row in ROWS)
        return self.runtime.invoke_endpoint(
            EndpointName=name, ContentType="text/csv", Accept="application/json", Body=body, **kw
        )
