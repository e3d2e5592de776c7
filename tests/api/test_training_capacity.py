"""Endpoint instances hold capacity: a second training job waits in Pending until the endpoint is deleted."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from endpoint_tenant import ROLE, XGBOOST, Tenant
from live_helpers import poll

from sagemill.testing.live_server import LiveServer


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A 4-vCPU machine: an ml.m5.xlarge endpoint instance fills it (memory is not the limit)."""
    env = {"SAGEMILL_CAPACITY_CPUS": "4", "SAGEMILL_CAPACITY_MEMORY_MB": "65536"}
    live = LiveServer(tmp_path_factory.mktemp("small"), env=env).start()
    yield live
    live.stop()


def start_training(tenant: Tenant, rounds: int = 3) -> str:
    rows = "\n".join(f"{i % 7},{i % 5},{i % 3}" for i in range(200)) + "\n"
    tenant.s3.put_object(Bucket=tenant.bucket, Key="train/data.csv", Body=rows.encode())
    name = f"job-{uuid.uuid4().hex[:8]}"
    tenant.sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": XGBOOST, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        HyperParameters={"num_round": str(rounds), "objective": "reg:squarederror"},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{tenant.bucket}/train/"}
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{tenant.bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300},
    )
    return name


def _xlarge_endpoint(tenant: Tenant) -> str:
    config = f"c-{uuid.uuid4().hex[:8]}"
    tenant.sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": tenant.model(),
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
    )
    name, _, _ = tenant.deploy_config(config)
    return name


def test_endpoints_limit_the_jobs_beside_them_but_never_block_a_lone_job(small_server: LiveServer) -> None:
    tenant = Tenant(small_server)
    endpoint = _xlarge_endpoint(tenant)  # 4 vCPUs: the whole machine

    def describe(name: str) -> Callable[[], dict[str, Any]]:
        return lambda: dict(tenant.sm.describe_training_job(TrainingJobName=name))

    # Alone, a job runs even though the endpoint fills the machine.
    first = start_training(tenant, rounds=1_000_000)
    running = poll(describe(first), lambda j: j["SecondaryStatus"] == "Training", timeout=60)
    assert running["TrainingJobStatus"] == "InProgress"

    # A second job fits beside the first (2 + 2 vCPUs) but not beside the endpoint too: it waits.
    second = start_training(tenant)
    job = poll(describe(second), lambda j: j["SecondaryStatus"] == "Pending", timeout=30)
    assert job["SecondaryStatusTransitions"][-1]["StatusMessage"] == (
        "Waiting for capacity: ml.m5.large needs 2 vCPUs and 8192 MiB; the machine is busy with 1 other "
        "training jobs and 1 endpoint instances."
    )
    later = poll(describe(second), lambda j: j["SecondaryStatus"] != "Pending", timeout=3)
    assert later["SecondaryStatus"] == "Pending", later

    # Deleting the endpoint frees its share: the second job runs while the first still trains.
    tenant.sm.delete_endpoint(EndpointName=endpoint)
    done = poll(describe(second), lambda j: j["TrainingJobStatus"] != "InProgress", timeout=120)
    assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
    statuses = [t["Status"] for t in done["SecondaryStatusTransitions"]]
    assert statuses[statuses.index("Pending") + 1 :][:2] == ["Downloading", "Training"], statuses
    assert describe(first)()["TrainingJobStatus"] == "InProgress"
    tenant.sm.stop_training_job(TrainingJobName=first)
    stopped = poll(
        describe(first), lambda j: j["TrainingJobStatus"] not in ("InProgress", "Stopping"), timeout=60
    )
    assert stopped["TrainingJobStatus"] == "Stopped"
