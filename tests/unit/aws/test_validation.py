"""Model-driven validation answers in AWS's exact words."""

from __future__ import annotations

import pytest

from sagemill.aws.errors import ValidationError
from sagemill.aws.specs import operation_model
from sagemill.aws.validation import validate


def problems(operation: str, params: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as caught:
        validate(operation_model("sagemaker", operation).input_shape, params)
    return caught.value.message


def test_valid_request_passes() -> None:
    validate(
        operation_model("sagemaker", "CreateModel").input_shape,
        {"ModelName": "ok-name", "PrimaryContainer": {"Image": "img"}},
    )


def test_missing_required_member() -> None:
    assert problems("DescribeModel", {}) == (
        "1 validation error detected: Value null at 'modelName' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_pattern_length_and_count() -> None:
    message = problems("DescribeModel", {"ModelName": "x" * 64})
    assert message.startswith("1 validation error detected: Value '" + "x" * 64 + "' at 'modelName'")
    assert message.endswith("Member must have length less than or equal to 63")
    message = problems("ListModels", {"MaxResults": 0, "SortBy": "Size"})
    assert message.startswith("2 validation errors detected: ")
    assert (
        "Value '0' at 'maxResults' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1" in message
    )
    assert (
        "Value 'Size' at 'sortBy' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Name, CreationTime]" in message
    )


def test_nested_list_paths_are_one_based() -> None:
    message = problems(
        "CreateEndpointConfig",
        {
            "EndpointConfigName": "c",
            "ProductionVariants": [
                {
                    "VariantName": "a",
                    "ModelName": "m",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                },
                {
                    "VariantName": "b",
                    "ModelName": "m",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 0,
                },
            ],
        },
    )
    assert "at 'productionVariants.2.member.initialInstanceCount'" in message
    assert "Member must have value greater than or equal to 1" in message


def test_pattern_violation_names_the_pattern() -> None:
    message = problems("DescribeModel", {"ModelName": "bad_name!"})
    assert (
        "Member must satisfy regular expression pattern: [a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?" in message
    )


def test_services_with_their_own_code_for_a_bad_value() -> None:
    shape = operation_model("logs", "DescribeLogStreams").input_shape
    with pytest.raises(ValidationError) as caught:
        validate(shape, {"logGroupName": "g", "limit": 100}, "logs")
    assert caught.value.code == "InvalidParameterException"
    assert caught.value.message.startswith("1 validation error detected: Value '100' at 'limit'")
