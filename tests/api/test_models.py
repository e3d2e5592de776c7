"""CreateModel, DescribeModel, DeleteModel and ListModels through real boto3 against a live server."""

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
    """A SageMaker client in an account no other test uses."""
    return server.client("sagemaker", account=account)


@pytest.fixture
def sm_raw(server: LiveServer, account: str) -> Any:
    """The same account without botocore's client-side checks, so the server's own validation answers."""
    return server.client("sagemaker", account=account, parameter_validation=False)


def model_arn(account: str, name: str, region: str = "us-east-1") -> str:
    return f"arn:aws:sagemaker:{region}:{account}:model/{name.lower()}"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


def not_found(account: str, name: str, region: str = "us-east-1") -> tuple[str, str]:
    return "ValidationException", f'Could not find model "{model_arn(account, name, region)}".'


def without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def deployment_entity_exists(describe: Any) -> bool:
    """sagemaker.session._deployment_entity_exists from the SageMaker Python SDK v2, verbatim in logic."""
    try:
        describe()
        return True
    except ClientError as ce:
        error_code = ce.response["Error"]["Code"]
        if not (error_code == "ValidationException" and "Could not find" in ce.response["Error"]["Message"]):
            raise ce
        return False


def test_create_then_describe_returns_the_primary_container_model_as_sent(sm: Any, account: str) -> None:
    request = {
        "ModelName": "Churn-Xgb-1",
        "PrimaryContainer": {
            "Image": IMAGE,
            "ModelDataUrl": "s3://models/churn/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "LOG_LEVEL": "debug"},
        },
        "ExecutionRoleArn": f"arn:aws:iam::{account}:role/SageMakerRole",
        "VpcConfig": {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-1", "subnet-2"]},
        "EnableNetworkIsolation": True,
    }
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    created = sm.create_model(**request, Tags=[{"Key": "team", "Value": "risk"}])
    after = datetime.now(UTC) + timedelta(milliseconds=1)

    assert without_metadata(created) == {"ModelArn": model_arn(account, "Churn-Xgb-1")}
    described = without_metadata(sm.describe_model(ModelName="Churn-Xgb-1"))
    creation_time = described.pop("CreationTime")
    assert isinstance(creation_time, datetime)
    assert creation_time.tzinfo is not None
    assert before <= creation_time <= after
    # Exactly what was sent (Tags are not part of a Describe), plus the ARN with the name lower-cased.
    assert described == {**request, "ModelArn": f"arn:aws:sagemaker:us-east-1:{account}:model/churn-xgb-1"}


def test_create_then_describe_returns_an_inference_pipeline_as_sent(sm: Any, account: str) -> None:
    request = {
        "ModelName": "pipeline",
        "Containers": [
            {"ContainerHostname": "preprocess", "Image": IMAGE, "Environment": {"STAGE": "1"}},
            {
                "ContainerHostname": "predict",
                "Image": IMAGE,
                "ModelDataUrl": "s3://models/pipeline/model.tar.gz",
                "Environment": {"STAGE": "2"},
            },
        ],
        "InferenceExecutionConfig": {"Mode": "Serial"},
        "ExecutionRoleArn": f"arn:aws:iam::{account}:role/SageMakerRole",
    }
    sm.create_model(**request)

    described = without_metadata(sm.describe_model(ModelName="pipeline"))
    assert isinstance(described.pop("CreationTime"), datetime)
    assert described == {**request, "ModelArn": model_arn(account, "pipeline")}


def test_describe_of_a_model_never_created_is_a_could_not_find_validation_exception(
    sm: Any, account: str
) -> None:
    with pytest.raises(ClientError) as exc:
        sm.describe_model(ModelName="no-such-model")

    assert error_of(exc) == not_found(account, "no-such-model")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_delete_removes_the_model_and_a_second_delete_cannot_find_it(sm: Any, account: str) -> None:
    sm.create_model(ModelName="Short-Lived", PrimaryContainer={"Image": IMAGE})

    sm.delete_model(ModelName="Short-Lived")

    with pytest.raises(ClientError) as describe_exc:
        sm.describe_model(ModelName="Short-Lived")
    assert error_of(describe_exc) == not_found(account, "Short-Lived")
    with pytest.raises(ClientError) as delete_exc:
        sm.delete_model(ModelName="Short-Lived")
    assert error_of(delete_exc) == not_found(account, "Short-Lived")
    assert sm.list_models()["Models"] == []


def test_deleting_a_model_that_never_existed_cannot_find_it(sm: Any, account: str) -> None:
    with pytest.raises(ClientError) as exc:
        sm.delete_model(ModelName="ghost")

    assert error_of(exc) == not_found(account, "ghost")


def test_a_second_create_with_the_same_name_is_refused_and_keeps_the_first(sm: Any, account: str) -> None:
    sm.create_model(ModelName="dup", PrimaryContainer={"Image": IMAGE, "Environment": {"V": "1"}})

    with pytest.raises(ClientError) as exc:
        sm.create_model(ModelName="dup", PrimaryContainer={"Image": IMAGE, "Environment": {"V": "2"}})

    assert error_of(exc) == (
        "ValidationException",
        f'Cannot create already existing model "{model_arn(account, "dup")}".',
    )
    assert sm.describe_model(ModelName="dup")["PrimaryContainer"]["Environment"] == {"V": "1"}
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["dup"]


def test_a_model_can_be_recreated_after_it_is_deleted(sm: Any) -> None:
    sm.create_model(ModelName="reborn", PrimaryContainer={"Image": IMAGE, "Environment": {"GEN": "1"}})
    sm.delete_model(ModelName="reborn")

    sm.create_model(ModelName="reborn", PrimaryContainer={"Image": IMAGE, "Environment": {"GEN": "2"}})

    assert sm.describe_model(ModelName="reborn")["PrimaryContainer"]["Environment"] == {"GEN": "2"}


def test_model_names_are_case_insensitive_but_keep_the_case_they_were_created_with(
    sm: Any, account: str
) -> None:
    sm.create_model(ModelName="MyModel", PrimaryContainer={"Image": IMAGE})

    # One resource per lower-cased name: its ARN is .../model/mymodel whatever the case used.
    with pytest.raises(ClientError) as exc:
        sm.create_model(ModelName="mymodel", PrimaryContainer={"Image": IMAGE})
    assert error_of(exc) == (
        "ValidationException",
        f'Cannot create already existing model "arn:aws:sagemaker:us-east-1:{account}:model/mymodel".',
    )
    for spelling in ("MyModel", "mymodel", "MYMODEL"):
        described = sm.describe_model(ModelName=spelling)
        assert described["ModelName"] == "MyModel"
        assert described["ModelArn"] == model_arn(account, "mymodel")
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["MyModel"]

    sm.delete_model(ModelName="MYMODEL")

    with pytest.raises(ClientError) as gone:
        sm.describe_model(ModelName="MyModel")
    assert error_of(gone) == not_found(account, "mymodel")


def test_a_model_name_of_64_characters_breaks_the_length_constraint(sm_raw: Any) -> None:
    name = "m" * 64

    with pytest.raises(ClientError) as exc:
        sm_raw.create_model(ModelName=name, PrimaryContainer={"Image": IMAGE})

    assert error_of(exc) == (
        "ValidationException",
        f"1 validation error detected: Value '{name}' at 'modelName' failed to satisfy constraint: "
        "Member must have length less than or equal to 63",
    )


def test_a_model_name_of_63_characters_is_accepted(sm: Any, account: str) -> None:
    name = "M" + "m" * 61 + "1"

    created = sm.create_model(ModelName=name, PrimaryContainer={"Image": IMAGE})

    assert created["ModelArn"] == model_arn(account, name)
    assert sm.describe_model(ModelName=name)["ModelName"] == name


@pytest.mark.parametrize("name", ["under_score", "-leading-hyphen", "trailing-hyphen-", "dot.ted"])
def test_a_model_name_outside_the_pattern_is_refused_and_nothing_is_stored(sm_raw: Any, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        sm_raw.create_model(ModelName=name, PrimaryContainer={"Image": IMAGE})

    assert error_of(exc) == (
        "ValidationException",
        f"1 validation error detected: Value '{name}' at 'modelName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?",
    )
    assert sm_raw.list_models()["Models"] == []


def test_a_missing_model_name_is_reported_as_null(sm_raw: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm_raw.create_model(PrimaryContainer={"Image": IMAGE})

    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value null at 'modelName' failed to satisfy constraint: "
        "Member must not be null",
    )


def test_errors_in_nested_members_name_their_full_path(sm_raw: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm_raw.create_model(
            ModelName="nested",
            Containers=[{"Image": IMAGE}, {"Image": IMAGE, "ModelDataUrl": "ftp://models/m.tar.gz"}],
        )

    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value 'ftp://models/m.tar.gz' at 'containers.2.member.modelDataUrl' "
        "failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "(https|s3)://([^/]+)/?(.*)",
    )


def test_a_model_needs_exactly_one_of_primary_container_and_containers(sm: Any) -> None:
    with pytest.raises(ClientError) as neither:
        sm.create_model(ModelName="empty")
    with pytest.raises(ClientError) as both:
        sm.create_model(ModelName="both", PrimaryContainer={"Image": IMAGE}, Containers=[{"Image": IMAGE}])

    assert error_of(neither)[0] == "ValidationException"
    assert "PrimaryContainer" in error_of(neither)[1]
    assert error_of(both)[0] == "ValidationException"
    assert "PrimaryContainer" in error_of(both)[1]
    assert sm.list_models()["Models"] == []


def test_the_sdk_existence_check_reads_could_not_find_as_absent(sm: Any) -> None:
    assert deployment_entity_exists(lambda: sm.describe_model(ModelName="later")) is False

    sm.create_model(ModelName="later", PrimaryContainer={"Image": IMAGE})

    assert deployment_entity_exists(lambda: sm.describe_model(ModelName="later")) is True
    sm.delete_model(ModelName="later")
    assert deployment_entity_exists(lambda: sm.delete_model(ModelName="later")) is False


def test_the_sdk_already_exists_check_recognises_a_duplicate_model(sm: Any) -> None:
    sm.create_model(ModelName="sdk-dup", PrimaryContainer={"Image": IMAGE})

    with pytest.raises(ClientError) as exc:
        sm.create_model(ModelName="sdk-dup", PrimaryContainer={"Image": IMAGE})

    # sagemaker.session.Session.create_model swallows exactly this pair and goes on.
    code, message = error_of(exc)
    assert code == "ValidationException"
    assert "Cannot create already existing model" in message


def test_a_model_is_invisible_to_another_account(server: LiveServer, sm: Any, account: str) -> None:
    sm.create_model(ModelName="private", PrimaryContainer={"Image": IMAGE})
    other_account = new_account()
    other = server.client("sagemaker", account=other_account)

    with pytest.raises(ClientError) as describe_exc:
        other.describe_model(ModelName="private")
    with pytest.raises(ClientError) as delete_exc:
        other.delete_model(ModelName="private")

    assert error_of(describe_exc) == not_found(other_account, "private")
    assert error_of(delete_exc) == not_found(other_account, "private")
    assert other.list_models()["Models"] == []
    assert sm.describe_model(ModelName="private")["ModelArn"] == model_arn(account, "private")


def test_a_model_is_invisible_to_its_own_account_in_another_region(
    server: LiveServer, sm: Any, account: str
) -> None:
    sm.create_model(ModelName="regional", PrimaryContainer={"Image": IMAGE})
    elsewhere = server.client("sagemaker", account=account, region="eu-west-1")

    with pytest.raises(ClientError) as exc:
        elsewhere.describe_model(ModelName="regional")

    assert error_of(exc) == not_found(account, "regional", "eu-west-1")
    assert elsewhere.list_models()["Models"] == []


def test_the_same_name_lives_independently_in_each_account_and_region(
    server: LiveServer, sm: Any, account: str
) -> None:
    other_account = new_account()
    other = server.client("sagemaker", account=other_account)
    elsewhere = server.client("sagemaker", account=account, region="eu-west-1")
    sm.create_model(ModelName="shared-name", PrimaryContainer={"Image": IMAGE, "Environment": {"AT": "home"}})

    other_arn = other.create_model(
        ModelName="shared-name", PrimaryContainer={"Image": IMAGE, "Environment": {"AT": "other"}}
    )["ModelArn"]
    elsewhere_arn = elsewhere.create_model(
        ModelName="shared-name", PrimaryContainer={"Image": IMAGE, "Environment": {"AT": "eu"}}
    )["ModelArn"]
    other.delete_model(ModelName="shared-name")

    assert other_arn == model_arn(other_account, "shared-name")
    assert elsewhere_arn == model_arn(account, "shared-name", "eu-west-1")
    assert sm.describe_model(ModelName="shared-name")["PrimaryContainer"]["Environment"] == {"AT": "home"}
    assert elsewhere.describe_model(ModelName="shared-name")["PrimaryContainer"]["Environment"] == {
        "AT": "eu"
    }
