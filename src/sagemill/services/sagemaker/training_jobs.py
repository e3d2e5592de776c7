"""CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs and StopTrainingJob.

The API writes the desired job and returns; control/training.py runs it.

LIMITATIONS:
- One instance per job: InstanceCount > 1 is refused rather than faked.
- VpcConfig, network isolation, inter-container encryption, managed spot, debugger and profiler
  settings are recorded and echoed, not enforced.
- RetryStrategy is recorded; failed jobs are not retried.
- OutputDataConfig.KmsKeyId and CompressionType are recorded and echoed; the model is always
  uploaded as model.tar.gz, with no server-side encryption setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.aws.errors import ServiceError
from sagemill.domain.errors import AlreadyExists
from sagemill.domain.resources import Resource
from sagemill.domain.training import TrainingProgress, billable_seconds, request_stop, started
from sagemill.executors.images import UnsupportedImage, metric_definitions, resolve_training_image
from sagemill.services.clock import Clock, to_datetime
from sagemill.services.sagemaker import resources
from sagemill.services.sagemaker.errors import validation
from sagemill.services.sagemaker.listing import list_page
from sagemill.store.base import Store

KIND = "training_job"
DEFAULT_MAX_RUNTIME = 86_400


def _check(params: dict[str, Any]) -> dict[str, Any]:
    """SageMaker's rules the model cannot express; returns the request with defaults filled."""
    algorithm = dict(params.get("AlgorithmSpecification") or {})
    if not algorithm:
        raise validation("AlgorithmSpecification must be specified.")
    image = algorithm.get("TrainingImage")
    if not image:
        raise validation(
            "AlgorithmSpecification.TrainingImage must be specified; Sagemill does not run marketplace "
            "algorithms (AlgorithmName)."
        )
    try:
        resolve_training_image(image)
    except UnsupportedImage as exc:
        raise validation(str(exc)) from exc
    algorithm.setdefault("TrainingInputMode", "File")
    config = params.get("ResourceConfig")
    if not config:
        raise validation("ResourceConfig must be specified.")
    if int(config.get("InstanceCount", 1)) != 1:
        raise validation(
            f"Sagemill trains on one instance per job; InstanceCount {config.get('InstanceCount')} is not "
            "supported yet. Use InstanceCount 1."
        )
    if not config.get("InstanceType"):
        raise validation("ResourceConfig.InstanceType must be specified.")
    channels = [c["ChannelName"] for c in params.get("InputDataConfig") or []]
    repeated = sorted({c for c in channels if channels.count(c) > 1})
    if repeated:
        raise validation(f"Channel names must be unique: {', '.join(repeated)}.")
    for channel in params.get("InputDataConfig") or []:
        source = channel.get("DataSource", {}).get("S3DataSource")
        if not source:
            raise validation(f"Channel {channel['ChannelName']}: only S3DataSource is supported.")
        if not str(source.get("S3Uri", "")).startswith("s3://"):
            raise validation(f"Channel {channel['ChannelName']}: S3Uri must start with s3://.")
    if not str(params["OutputDataConfig"].get("S3OutputPath", "")).startswith("s3://"):
        raise validation("OutputDataConfig.S3OutputPath must be an s3:// URI.")
    checked = dict(params)
    checked["AlgorithmSpecification"] = algorithm
    stopping = dict(params.get("StoppingCondition") or {})
    stopping.setdefault("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)
    checked["StoppingCondition"] = stopping
    return checked


# The built-in images' definitions DescribeTrainingJob shows: the common metrics, within the API's
# limit of 40 (a client may send them back in a new request). The reconciler matches the full set.
_SHOWN_METRICS = frozenset(
    {
        *("accuracy", "auc", "aucpr", "balanced_accuracy", "f1", "map", "ndcg", "precision", "r2", "recall"),
        *("error", "logloss", "mae", "mape", "merror", "mlogloss", "mse", "rmse", "rmsle"),
        *("msd", "ssd", "objective_loss"),
    }
)


def _algorithm_with_definitions(algorithm: dict[str, Any]) -> dict[str, Any]:
    if algorithm.get("MetricDefinitions"):
        return algorithm
    built_in = [
        d
        for d in metric_definitions(resolve_training_image(algorithm["TrainingImage"]))
        if d["Name"].rsplit(":", 1)[-1] in _SHOWN_METRICS
    ]
    return {**algorithm, "MetricDefinitions": built_in[:40]} if built_in else algorithm


def _with_service_defaults(desired: dict[str, Any]) -> dict[str, Any]:
    """The request as SageMaker echoes it: the optional fields it always answers, with their defaults.

    Clients read some of them unconditionally: the SageMaker Python SDK's `Estimator.attach` takes
    `OutputDataConfig["KmsKeyId"]` (the service answers "" when the request had none).
    """
    shown = {
        "EnableNetworkIsolation": False,
        "EnableInterContainerTrafficEncryption": False,
        "EnableManagedSpotTraining": False,
        **desired,
    }
    shown["OutputDataConfig"] = {"KmsKeyId": "", "CompressionType": "GZIP", **desired["OutputDataConfig"]}
    if desired.get("InputDataConfig"):
        shown["InputDataConfig"] = [
            {"CompressionType": "None", "RecordWrapperType": "None", **channel}
            for channel in desired["InputDataConfig"]
        ]
    return shown


def describe(resource: Resource, now: float) -> dict[str, Any]:
    progress = TrainingProgress.from_json(resource.observed)
    desired = resource.desired
    out: dict[str, Any] = {
        **_with_service_defaults(desired),
        "AlgorithmSpecification": _algorithm_with_definitions(desired["AlgorithmSpecification"]),
        "TrainingJobArn": resource.arn,
        "TrainingJobStatus": progress.status.value,
        "SecondaryStatus": progress.secondary.value,
        "CreationTime": to_datetime(resource.created_at),
        "LastModifiedTime": to_datetime(resource.updated_at),
        "SecondaryStatusTransitions": [
            {
                "Status": t.status,
                "StartTime": to_datetime(t.start_time),
                "StatusMessage": t.message,
                **({"EndTime": to_datetime(t.end_time)} if t.end_time is not None else {}),
            }
            for t in progress.transitions
        ],
        "ModelArtifacts": {"S3ModelArtifacts": progress.model_artifacts},
    }
    if progress.failure_reason:
        out["FailureReason"] = progress.failure_reason
    if progress.training_start is not None:
        out["TrainingStartTime"] = to_datetime(progress.training_start)
        out["TrainingTimeInSeconds"] = billable_seconds(progress, now)
        out["BillableTimeInSeconds"] = billable_seconds(progress, now)
    if progress.training_end is not None:
        out["TrainingEndTime"] = to_datetime(progress.training_end)
    if progress.final_metrics:
        out["FinalMetricDataList"] = [
            {"MetricName": name, "Value": value, "Timestamp": to_datetime(at)}
            for name, (value, at) in sorted(progress.final_metrics.items())
        ]
    return out


def _summary(resource: Resource) -> dict[str, Any]:
    progress = TrainingProgress.from_json(resource.observed)
    summary: dict[str, Any] = {
        "TrainingJobName": resource.key.name,
        "TrainingJobArn": resource.arn,
        "CreationTime": to_datetime(resource.created_at),
        "LastModifiedTime": to_datetime(resource.updated_at),
        "TrainingJobStatus": progress.status.value,
        "SecondaryStatus": progress.secondary.value,
    }
    if progress.training_end is not None:
        summary["TrainingEndTime"] = to_datetime(progress.training_end)
    return summary


def operations(
    store: Store, clock: Clock, on_change: Callable[[], None] = lambda: None
) -> dict[str, Handler]:
    """The handlers; `on_change` tells the control loop that a job needs it now."""

    def create_training_job(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        checked = _check(params)
        now = clock()
        name = params["TrainingJobName"]
        progress = started(now)
        try:
            resource = resources.create(
                store,
                clock,
                context,
                KIND,
                name,
                checked,
                status=progress.status.value,
                next_action_at=now,
                observed=progress.to_json(),
                raise_existing=False,
            )
        except AlreadyExists as exc:
            raise ServiceError(
                "ResourceInUse",
                f"Training job names must be unique within an AWS account and region, and a training job "
                f"with this name already exists ({resources.arn_for(context, KIND, name)})",
            ) from exc
        on_change()
        return {"TrainingJobArn": resource.arn}

    def describe_training_job(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource = resources.find(store, context, KIND, params["TrainingJobName"])
        if resource is None:
            raise validation("Requested resource not found.")
        return describe(resource, clock())

    def list_training_jobs(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return list_page(store, context, KIND, params, _summary, "TrainingJobSummaries")

    def stop_training_job(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
        for _ in range(5):
            resource = resources.find(store, context, KIND, name)
            if resource is None:
                raise validation("Requested resource not found.")
            progress = TrainingProgress.from_json(resource.observed)
            if progress.ended:
                raise validation(
                    f"The request was rejected because the training job is in status {progress.status.value}."
                )
            now = clock()
            stopping = request_stop(progress, "StopTrainingJob", now)
            updated = replace(
                resource,
                observed=stopping.to_json(),
                status=stopping.status.value,
                next_action_at=now,
                updated_at=now,
            )
            if resources.try_update(store, updated, resource.version):
                on_change()
                return {}
        raise ServiceError("ThrottlingException", "The training job is changing; retry the request.")

    return {
        "CreateTrainingJob": create_training_job,
        "DescribeTrainingJob": describe_training_job,
        "ListTrainingJobs": list_training_jobs,
        "StopTrainingJob": stop_training_job,
    }
