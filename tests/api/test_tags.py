"""AddTags, ListTags and DeleteTags on models and endpoint configs through real boto3."""

from __future__ import annotations

import secrets
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


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


def wire(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tags_of(client: Any, arn: str) -> dict[str, str]:
    reply = client.list_tags(ResourceArn=arn)
    assert "NextToken" not in reply
    return {t["Key"]: t["Value"] for t in reply["Tags"]}


def make_model(client: Any, name: str, tags: dict[str, str] | None = None) -> str:
    extra = {"Tags": wire(tags)} if tags is not None else {}
    return str(client.create_model(ModelName=name, PrimaryContainer={"Image": IMAGE}, **extra)["ModelArn"])


def resource_not_found(arn: str) -> tuple[str, str]:
    return "ValidationException", f'Could not find resource "{arn}".'


def test_tags_given_at_create_are_listed(sm: Any) -> None:
    arn = make_model(sm, "tagged", {"team": "risk", "cost-center": "42", "empty": ""})

    assert tags_of(sm, arn) == {"team": "risk", "cost-center": "42", "empty": ""}


def test_tags_given_when_creating_an_endpoint_config_are_listed(sm: Any) -> None:
    make_model(sm, "for-config")

    arn = sm.create_endpoint_config(
        EndpointConfigName="tagged-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "for-config",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        Tags=wire({"sagemaker.amazonaws.com/model-source": "model-builder"}),
    )["EndpointConfigArn"]

    assert tags_of(sm, arn) == {"sagemaker.amazonaws.com/model-source": "model-builder"}


def test_add_tags_adds_new_keys_and_overwrites_existing_ones(sm: Any) -> None:
    arn = make_model(sm, "retag", {"team": "risk", "stage": "dev"})

    reply = sm.add_tags(ResourceArn=arn, Tags=wire({"stage": "prod", "owner": "ana"}))

    assert reply["Tags"] == wire({"stage": "prod", "owner": "ana"})
    assert tags_of(sm, arn) == {"team": "risk", "stage": "prod", "owner": "ana"}


def test_delete_tags_removes_only_the_named_keys(sm: Any) -> None:
    arn = make_model(sm, "untag", {"a": "1", "b": "2", "c": "3"})

    sm.delete_tags(ResourceArn=arn, TagKeys=["a", "c", "never-there"])

    assert tags_of(sm, arn) == {"b": "2"}


def test_list_tags_returns_fifty_tags_in_one_page_of_fifty(sm: Any) -> None:
    tags = {f"key-{i:02d}": f"value-{i}" for i in range(50)}
    arn = make_model(sm, "full", tags)

    reply = sm.list_tags(ResourceArn=arn, MaxResults=50)

    assert len(reply["Tags"]) == 50
    assert "NextToken" not in reply
    assert {t["Key"]: t["Value"] for t in reply["Tags"]} == tags


def test_the_list_tags_paginator_yields_every_tag_once(sm: Any) -> None:
    tags = {f"k{i}": str(i) for i in range(37)}
    arn = make_model(sm, "paged-tags", tags)

    pages = list(sm.get_paginator("list_tags").paginate(ResourceArn=arn, PaginationConfig={"PageSize": 50}))

    listed = [t["Key"] for page in pages for t in page["Tags"]]
    assert len(pages) == 1
    assert sorted(listed) == sorted(tags)


def test_list_tags_refuses_a_page_size_under_fifty(sm_raw: Any) -> None:
    arn = make_model(sm_raw, "small-pages", {"a": "1"})

    with pytest.raises(ClientError) as exc:
        sm_raw.list_tags(ResourceArn=arn, MaxResults=49)

    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value '49' at 'maxResults' failed to satisfy constraint: "
        "Member must have value greater than or equal to 50",
    )


def test_list_tags_refuses_a_garbled_next_token(sm: Any) -> None:
    arn = make_model(sm, "tokens", {"a": "1", "b": "2"})

    with pytest.raises(ClientError) as exc:
        sm.list_tags(ResourceArn=arn, NextToken="a")

    assert error_of(exc) == ("ValidationException", "Invalid pagination token.")


@pytest.mark.parametrize("key", ["aws:createdBy", "AWS:Owner", "Aws:x"])
def test_keys_with_the_reserved_aws_prefix_are_refused_at_create(sm: Any, key: str) -> None:
    with pytest.raises(ClientError) as exc:
        make_model(sm, "reserved", {"ok": "1", key: "me"})

    code, message = error_of(exc)
    assert code == "ValidationException"
    assert key in message
    with pytest.raises(ClientError):
        sm.describe_model(ModelName="reserved")


def test_keys_with_the_reserved_aws_prefix_are_refused_by_add_tags(sm: Any) -> None:
    arn = make_model(sm, "reserved-add", {"ok": "1"})

    with pytest.raises(ClientError) as exc:
        sm.add_tags(ResourceArn=arn, Tags=wire({"fine": "2", "aws:cloudformation:stack-name": "s"}))

    code, message = error_of(exc)
    assert code == "ValidationException"
    assert "aws:cloudformation:stack-name" in message
    assert tags_of(sm, arn) == {"ok": "1"}


def test_more_than_fifty_tags_in_one_request_are_refused(sm_raw: Any) -> None:
    tags = {f"k{i:02d}": "v" for i in range(51)}

    with pytest.raises(ClientError) as exc:
        make_model(sm_raw, "crowded", tags)

    code, message = error_of(exc)
    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: Value '")
    assert message.endswith(
        "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"
    )
    assert sm_raw.list_models()["Models"] == []


def test_add_tags_refuses_to_take_a_resource_past_fifty_tags(sm: Any) -> None:
    existing = {f"old-{i:02d}": "v" for i in range(40)}
    arn = make_model(sm, "nearly-full", existing)

    with pytest.raises(ClientError) as exc:
        sm.add_tags(ResourceArn=arn, Tags=wire({f"new-{i:02d}": "v" for i in range(11)}))

    assert error_of(exc)[0] == "ResourceLimitExceeded"
    assert tags_of(sm, arn) == existing


def test_add_tags_may_overwrite_keys_of_a_resource_at_fifty_tags(sm: Any) -> None:
    existing = {f"k{i:02d}": "old" for i in range(40)}
    arn = make_model(sm, "at-limit", existing)
    sm.add_tags(ResourceArn=arn, Tags=wire({f"n{i:02d}": "new" for i in range(10)}))

    # All 41 of these keys already exist, so the resource stays at 50.
    sm.add_tags(ResourceArn=arn, Tags=wire({f"k{i:02d}": "newer" for i in range(40)} | {"n00": "newer"}))

    tags = tags_of(sm, arn)
    assert len(tags) == 50
    assert tags["k39"] == "newer"
    assert tags["n00"] == "newer"
    assert tags["n09"] == "new"


def test_duplicate_keys_in_one_request_are_refused(sm: Any) -> None:
    arn = make_model(sm, "dupkeys", {"a": "1"})

    with pytest.raises(ClientError) as exc:
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "x", "Value": "1"}, {"Key": "x", "Value": "2"}])

    assert error_of(exc)[0] == "ValidationException"
    assert tags_of(sm, arn) == {"a": "1"}


def test_the_tags_of_another_accounts_resource_cannot_be_read_or_changed(server: LiveServer, sm: Any) -> None:
    arn = make_model(sm, "owned", {"secret": "s3cr3t"})
    other = server.client("sagemaker", account=new_account())

    with pytest.raises(ClientError) as list_exc:
        other.list_tags(ResourceArn=arn)
    with pytest.raises(ClientError) as add_exc:
        other.add_tags(ResourceArn=arn, Tags=wire({"secret": "overwritten"}))
    with pytest.raises(ClientError) as delete_exc:
        other.delete_tags(ResourceArn=arn, TagKeys=["secret"])

    assert error_of(list_exc) == resource_not_found(arn)
    assert error_of(add_exc) == resource_not_found(arn)
    assert error_of(delete_exc) == resource_not_found(arn)
    assert tags_of(sm, arn) == {"secret": "s3cr3t"}


def test_the_tags_of_a_resource_in_another_region_are_out_of_reach(
    server: LiveServer, sm: Any, account: str
) -> None:
    arn = make_model(sm, "home-region", {"a": "1"})
    elsewhere = server.client("sagemaker", account=account, region="eu-west-1")

    with pytest.raises(ClientError) as exc:
        elsewhere.list_tags(ResourceArn=arn)

    assert error_of(exc) == resource_not_found(arn)


@pytest.mark.parametrize(
    "resource", ["model/never-created", "endpoint-config/never-created", "notakind/thing"]
)
def test_tags_of_a_missing_resource_cannot_be_read_or_set(sm: Any, account: str, resource: str) -> None:
    arn = f"arn:aws:sagemaker:us-east-1:{account}:{resource}"

    with pytest.raises(ClientError) as list_exc:
        sm.list_tags(ResourceArn=arn)
    with pytest.raises(ClientError) as add_exc:
        sm.add_tags(ResourceArn=arn, Tags=wire({"a": "1"}))

    assert error_of(list_exc) == resource_not_found(arn)
    assert error_of(add_exc) == resource_not_found(arn)


def test_a_model_recreated_under_the_same_name_starts_without_the_old_tags(sm: Any) -> None:
    arn = make_model(sm, "phoenix", {"generation": "1"})
    sm.add_tags(ResourceArn=arn, Tags=wire({"added": "later"}))
    sm.delete_model(ModelName="phoenix")

    # The old ARN names nothing while the model is gone.
    with pytest.raises(ClientError) as exc:
        sm.list_tags(ResourceArn=arn)
    assert error_of(exc) == resource_not_found(arn)

    assert make_model(sm, "phoenix") == arn
    assert tags_of(sm, arn) == {}
    sm.delete_model(ModelName="phoenix")
    make_model(sm, "phoenix", {"generation": "3"})
    assert tags_of(sm, arn) == {"generation": "3"}
