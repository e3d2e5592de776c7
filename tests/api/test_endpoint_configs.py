"""Endpoint configurations (create, describe, delete) through real boto3 against a live server."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemill.testing.live_server import LiveServer

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1"


def new_account() -> str:
    return str(100_000_000_000 + secrets.randbelow(900_000_000_000))


@pytest.fixture
def account() -> str:
    return new_account()


@pytest.fixture
def sm(server: LiveServer, account: str) -> Any:
    """A SageMaker client in an account no other test uses, holding one model named `model-a`."""
    client = server.client("sagemaker", account=account)
    client.create_model(ModelName="model-a", PrimaryContainer={"Image": IMAGE})
    return client


@pytest.fixture
def sm_raw(server: LiveServer, account: str, sm: Any) -> Any:
    """The same account without botocore's client-side checks, so the server's own validation answers."""
    return server.client("sagemaker", account=account, parameter_validation=False)


def arn(account: str, kind: str, name: str, region: str = "us-east-1") -> str:
    return f"arn:aws:sagemaker:{region}:{account}:{kind}/{name.lower()}"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


def config_not_found(account: str, name: str, region: str = "us-east-1") -> tuple[str, str]:
    return (
        "ValidationException",
        f'Could not find endpoint configuration "{arn(account, "endpoint-config", name, region)}".',
    )


def variant(name: str = "AllTraffic", model: str = "model-a", **extra: Any) -> dict[str, Any]:
    return {
        "VariantName": name,
        "ModelName": model,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
        **extra,
    }


def config_names(client: Any) -> list[str]:
    return [c["EndpointConfigName"] for c in client.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]]


def test_create_then_describe_returns_what_was_sent_with_default_weights(sm: Any, account: str) -> None:
    sm.create_model(ModelName="Model-B", PrimaryContainer={"Image": IMAGE})
    request: dict[str, Any] = {
        "EndpointConfigName": "Churn-Config",
        "ProductionVariants": [
            variant("Blue", "model-a", InitialVariantWeight=0.25, InitialInstanceCount=2),
            variant("Green", "Model-B", InstanceType="ml.c5.xlarge", VolumeSizeInGB=30),
        ],
        "DataCaptureConfig": {
            "EnableCapture": True,
            "InitialSamplingPercentage": 20,
            "DestinationS3Uri": "s3://capture/churn",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
        "KmsKeyId": "alias/sagemaker",
    }
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    created = sm.create_endpoint_config(**request, Tags=[{"Key": "team", "Value": "risk"}])
    after = datetime.now(UTC) + timedelta(milliseconds=1)

    config_arn = f"arn:aws:sagemaker:us-east-1:{account}:endpoint-config/churn-config"
    assert created["EndpointConfigArn"] == config_arn
    described = dict(sm.describe_endpoint_config(EndpointConfigName="Churn-Config"))
    described.pop("ResponseMetadata")
    creation_time = described.pop("CreationTime")
    assert isinstance(creation_time, datetime)
    assert before <= creation_time <= after
    # Omitted InitialVariantWeight is reported as 1.0; everything else comes back as sent.
    expected_variants = [
        request["ProductionVariants"][0],
        {**request["ProductionVariants"][1], "InitialVariantWeight": 1.0},
    ]
    assert described == {**request, "ProductionVariants": expected_variants, "EndpointConfigArn": config_arn}


def test_create_refuses_a_variant_naming_a_missing_model_and_stores_nothing(sm: Any, account: str) -> None:
    with pytest.raises(ClientError) as exc:
        sm.create_endpoint_config(
            EndpointConfigName="orphan",
            ProductionVariants=[variant("One", "model-a"), variant("Two", "Missing-Model")],
        )

    assert error_of(exc) == (
        "ValidationException",
        f'Could not find model "{arn(account, "model", "missing-model")}".',
    )
    with pytest.raises(ClientError) as describe_exc:
        sm.describe_endpoint_config(EndpointConfigName="orphan")
    assert error_of(describe_exc) == config_not_found(account, "orphan")
    assert config_names(sm) == []


def test_a_variant_may_name_its_model_in_any_case(sm: Any) -> None:
    sm.create_endpoint_config(EndpointConfigName="cased", ProductionVariants=[variant(model="MODEL-A")])

    described = sm.describe_endpoint_config(EndpointConfigName="cased")
    assert described["ProductionVariants"][0]["ModelName"] == "MODEL-A"


def test_a_model_of_another_account_does_not_satisfy_a_variant(server: LiveServer, account: str) -> None:
    owner = server.client("sagemaker", account=account)
    owner.create_model(ModelName="theirs", PrimaryContainer={"Image": IMAGE})
    other_account = new_account()
    other = server.client("sagemaker", account=other_account)

    with pytest.raises(ClientError) as exc:
        other.create_endpoint_config(
            EndpointConfigName="borrow", ProductionVariants=[variant(model="theirs")]
        )

    assert error_of(exc) == (
        "ValidationException",
        f'Could not find model "{arn(other_account, "model", "theirs")}".',
    )


def test_duplicate_variant_names_are_refused_and_nothing_is_stored(sm: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm.create_endpoint_config(
            EndpointConfigName="twins",
            ProductionVariants=[variant("Same"), variant("Other"), variant("Same")],
        )

    code, message = error_of(exc)
    assert code == "ValidationException"
    assert "Same" in message
    assert "Other" not in message
    assert config_names(sm) == []


def test_delete_removes_the_config_and_a_second_delete_cannot_find_it(sm: Any, account: str) -> None:
    sm.create_endpoint_config(EndpointConfigName="Temp-Config", ProductionVariants=[variant()])

    sm.delete_endpoint_config(EndpointConfigName="Temp-Config")

    with pytest.raises(ClientError) as describe_exc:
        sm.describe_endpoint_config(EndpointConfigName="Temp-Config")
    assert error_of(describe_exc) == config_not_found(account, "Temp-Config")
    with pytest.raises(ClientError) as delete_exc:
        sm.delete_endpoint_config(EndpointConfigName="Temp-Config")
    assert error_of(delete_exc) == config_not_found(account, "Temp-Config")
    assert config_names(sm) == []


def test_deleting_a_config_that_never_existed_cannot_find_it(sm: Any, account: str) -> None:
    with pytest.raises(ClientError) as exc:
        sm.delete_endpoint_config(EndpointConfigName="ghost")

    assert error_of(exc) == config_not_found(account, "ghost")


def test_a_second_create_with_the_same_name_is_refused_and_keeps_the_first(sm: Any, account: str) -> None:
    sm.create_endpoint_config(EndpointConfigName="dup", ProductionVariants=[variant("First")])

    with pytest.raises(ClientError) as exc:
        sm.create_endpoint_config(EndpointConfigName="DUP", ProductionVariants=[variant("Second")])

    assert error_of(exc) == (
        "ValidationException",
        f'Cannot create already existing endpoint configuration "{arn(account, "endpoint-config", "dup")}".',
    )
    described = sm.describe_endpoint_config(EndpointConfigName="dup")
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["First"]


def test_config_names_are_case_insensitive(sm: Any, account: str) -> None:
    sm.create_endpoint_config(EndpointConfigName="MixedCase", ProductionVariants=[variant()])

    described = sm.describe_endpoint_config(EndpointConfigName="mixedcase")
    sm.delete_endpoint_config(EndpointConfigName="MIXEDCASE")

    assert described["EndpointConfigName"] == "MixedCase"
    assert described["EndpointConfigArn"] == arn(account, "endpoint-config", "mixedcase")
    assert config_names(sm) == []


def test_a_config_outlives_the_model_it_names(sm: Any) -> None:
    sm.create_endpoint_config(EndpointConfigName="survivor", ProductionVariants=[variant()])

    sm.delete_model(ModelName="model-a")

    described = sm.describe_endpoint_config(EndpointConfigName="survivor")
    assert described["ProductionVariants"][0]["ModelName"] == "model-a"


def test_an_initial_instance_count_of_zero_is_refused_with_its_member_path(sm_raw: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm_raw.create_endpoint_config(
            EndpointConfigName="zero",
            ProductionVariants=[variant("Ok"), variant("Empty", InitialInstanceCount=0)],
        )

    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value '0' at 'productionVariants.2.member.initialInstanceCount' "
        "failed to satisfy constraint: Member must have value greater than or equal to 1",
    )
    assert config_names(sm_raw) == []


def test_a_variant_name_outside_the_pattern_is_refused(sm_raw: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm_raw.create_endpoint_config(
            EndpointConfigName="badvariant", ProductionVariants=[variant("all_traffic")]
        )

    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value 'all_traffic' at 'productionVariants.1.member.variantName' "
        "failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
    )


def test_every_broken_constraint_is_listed_in_one_message(sm_raw: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm_raw.create_endpoint_config(
            EndpointConfigName="many",
            ProductionVariants=[variant("bad_name", InitialInstanceCount=0, InstanceType="ml.m5.huge")],
        )

    code, message = error_of(exc)
    assert code == "ValidationException"
    assert message.startswith("3 validation errors detected: ")
    assert "Value 'bad_name' at 'productionVariants.1.member.variantName'" in message
    assert "Value '0' at 'productionVariants.1.member.initialInstanceCount'" in message
    assert (
        "Value 'ml.m5.huge' at 'productionVariants.1.member.instanceType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ml.t2.medium, " in message
    )


def test_a_config_name_of_64_characters_breaks_length_and_pattern(sm_raw: Any) -> None:
    name = "c" * 64

    with pytest.raises(ClientError) as exc:
        sm_raw.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant()])

    # The name pattern caps the length at 63 too, so both constraints fail.
    assert error_of(exc) == (
        "ValidationException",
        f"2 validation errors detected: Value '{name}' at 'endpointConfigName' failed to satisfy "
        "constraint: Member must have length less than or equal to 63; "
        f"Value '{name}' at 'endpointConfigName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
    )


def test_an_empty_variant_list_is_refused(sm_raw: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm_raw.create_endpoint_config(EndpointConfigName="novariants", ProductionVariants=[])

    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value '[]' at 'productionVariants' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
    )


def test_a_missing_variant_list_is_reported_as_null(sm_raw: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm_raw.create_endpoint_config(EndpointConfigName="novariants")

    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value null at 'productionVariants' failed to satisfy constraint: "
        "Member must not be null",
    )


def test_a_config_is_invisible_to_another_account_and_another_region(
    server: LiveServer, sm: Any, account: str
) -> None:
    sm.create_endpoint_config(EndpointConfigName="private", ProductionVariants=[variant()])
    other_account = new_account()
    other = server.client("sagemaker", account=other_account)
    elsewhere = server.client("sagemaker", account=account, region="eu-west-1")

    with pytest.raises(ClientError) as other_exc:
        other.describe_endpoint_config(EndpointConfigName="private")
    with pytest.raises(ClientError) as elsewhere_exc:
        elsewhere.describe_endpoint_config(EndpointConfigName="private")

    assert error_of(other_exc) == config_not_found(other_account, "private")
    assert error_of(elsewhere_exc) == config_not_found(account, "private", "eu-west-1")
    assert config_names(other) == []
    assert config_names(elsewhere) == []
    assert config_names(sm) == ["private"]


def test_the_sdk_existence_check_reads_could_not_find_as_absent(sm: Any) -> None:
    def exists() -> bool:
        # sagemaker.session._deployment_entity_exists, as the SDK's delete/deploy paths use it.
        try:
            sm.describe_endpoint_config(EndpointConfigName="sdk-config")
            return True
        except ClientError as ce:
            error = ce.response["Error"]
            if not (error["Code"] == "ValidationException" and "Could not find" in error["Message"]):
                raise
            return False

    assert exists() is False
    sm.create_endpoint_config(EndpointConfigName="sdk-config", ProductionVariants=[variant()])
    assert exists() is True
