"""Build and parse ARNs the way SageMaker and IAM spell them."""

from __future__ import annotations

from dataclasses import dataclass

PARTITION = "aws"

# SageMaker ARNs lower-case the resource name in its path; the kind is SageMaker's own word.
SAGEMAKER_KINDS = {
    "model": "model",
    "endpoint_config": "endpoint-config",
    "endpoint": "endpoint",
    "training_job": "training-job",
    "hyper_parameter_tuning_job": "hyper-parameter-tuning-job",
    "transform_job": "transform-job",
}


@dataclass(frozen=True, slots=True)
class Arn:
    """The six parts of an ARN."""

    partition: str
    service: str
    region: str
    account_id: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account_id}:{self.resource}"


def sagemaker_arn(kind: str, account_id: str, region: str, name: str) -> str:
    """The ARN of a SageMaker resource; SageMaker lower-cases names in ARNs."""
    return str(Arn(PARTITION, "sagemaker", region, account_id, f"{SAGEMAKER_KINDS[kind]}/{name.lower()}"))


def parse_arn(text: str) -> Arn | None:
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5]:
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def sagemaker_kind_of(arn: Arn) -> str | None:
    """The resource kind ('model', 'endpoint_config', …) of a SageMaker ARN, if it is one."""
    if arn.service != "sagemaker":
        return None
    prefix = arn.resource.split("/", 1)[0]
    for kind, word in SAGEMAKER_KINDS.items():
        if word == prefix:
            return kind
    return None


def account_root_arn(account_id: str) -> str:
    return f"arn:{PARTITION}:iam::{account_id}:root"


def user_arn(account_id: str, user_name: str) -> str:
    return f"arn:{PARTITION}:iam::{account_id}:user/{user_name}"
