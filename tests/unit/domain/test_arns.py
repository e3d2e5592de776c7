"""ARNs are built and parsed as SageMaker spells them."""

from __future__ import annotations

from sagemill.domain.arns import parse_arn, sagemaker_arn, sagemaker_kind_of


def test_sagemaker_arn_lower_cases_the_name() -> None:
    assert sagemaker_arn("endpoint_config", "123456789012", "us-east-1", "MyConfig") == (
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/myconfig"
    )


def test_parse_round_trip_and_kind() -> None:
    arn = parse_arn("arn:aws:sagemaker:eu-west-1:111111111111:model/m-1")
    assert arn is not None and str(arn) == "arn:aws:sagemaker:eu-west-1:111111111111:model/m-1"
    assert sagemaker_kind_of(arn) == "model"
    assert parse_arn("not-an-arn") is None
    other = parse_arn("arn:aws:s3:::bucket")
    assert other is not None and sagemaker_kind_of(other) is None
