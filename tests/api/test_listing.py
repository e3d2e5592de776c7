"""ListModels and ListEndpointConfigs filters, sorting and pagination through real boto3."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemill.testing.live_server import LiveServer

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1"
BASE_MODEL = "base-model"


def new_account() -> str:
    return str(100_000_000_000 + secrets.randbelow(900_000_000_000))


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


def _create_model(client: Any, name: str) -> None:
    client.create_model(ModelName=name, PrimaryContainer={"Image": IMAGE})


def _create_endpoint_config(client: Any, name: str) -> None:
    client.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": BASE_MODEL,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )


@dataclass(frozen=True)
class Kind:
    """One listable resource kind, and how to create and list it."""

    operation: str
    result_key: str
    name_key: str
    arn_key: str
    create_one: Callable[[Any, str], None]
    needs_base_model: bool


KINDS = {
    "model": Kind("list_models", "Models", "ModelName", "ModelArn", _create_model, False),
    "endpoint_config": Kind(
        "list_endpoint_configs",
        "EndpointConfigs",
        "EndpointConfigName",
        "EndpointConfigArn",
        _create_endpoint_config,
        True,
    ),
}


class Tenant:
    """A fresh account: creates resources of one kind and lists them."""

    def __init__(self, server: LiveServer, kind: Kind, account: str, region: str = "us-east-1") -> None:
        self.kind = kind
        self.account = account
        self.region = region
        self.client = server.client("sagemaker", account=account, region=region)
        self.raw = server.client("sagemaker", account=account, region=region, parameter_validation=False)
        if kind.needs_base_model:
            _create_model(self.client, BASE_MODEL)

    def create(self, *names: str, pause: float = 0.0) -> None:
        for name in names:
            self.kind.create_one(self.client, name)
            if pause:
                time.sleep(pause)  # keeps creation times distinct at SageMaker's millisecond resolution

    def page(self, **params: Any) -> dict[str, Any]:
        reply: dict[str, Any] = getattr(self.client, self.kind.operation)(**params)
        return reply

    def items(self, **params: Any) -> list[dict[str, Any]]:
        return list(self.page(**params)[self.kind.result_key])

    def names(self, **params: Any) -> list[str]:
        return [item[self.kind.name_key] for item in self.items(**params)]

    def walk(self, page_size: int, **params: Any) -> tuple[list[str], list[int]]:
        """Every name by following NextToken by hand, and the size of each page."""
        names: list[str] = []
        sizes: list[int] = []
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            reply = self.page(MaxResults=page_size, **params, **extra)
            page = [item[self.kind.name_key] for item in reply[self.kind.result_key]]
            names += page
            sizes.append(len(page))
            token = reply.get("NextToken")
            if not token:
                return names, sizes
            assert len(sizes) < 100, "pagination does not end"


@pytest.fixture(params=sorted(KINDS))
def tenant(request: pytest.FixtureRequest, server: LiveServer) -> Tenant:
    return Tenant(server, KINDS[request.param], new_account())


@pytest.fixture
def twenty_five(tenant: Tenant) -> list[str]:
    names = [f"item-{i:02d}" for i in range(25)]
    tenant.create(*names)
    return names


def test_summaries_carry_name_arn_and_creation_time(tenant: Tenant) -> None:
    tenant.create("Summary-Item")

    [item] = tenant.items()

    kind_word = "model" if tenant.kind.name_key == "ModelName" else "endpoint-config"
    assert item[tenant.kind.name_key] == "Summary-Item"
    assert (
        item[tenant.kind.arn_key] == f"arn:aws:sagemaker:us-east-1:{tenant.account}:{kind_word}/summary-item"
    )
    assert isinstance(item["CreationTime"], datetime)


def test_pages_visit_every_item_once_newest_first(tenant: Tenant, twenty_five: list[str]) -> None:
    walked, sizes = tenant.walk(7)

    everything = tenant.items(MaxResults=100)
    assert sizes == [7, 7, 7, 4]
    assert len(walked) == len(set(walked)) == 25
    assert set(walked) == set(twenty_five)
    assert walked == [item[tenant.kind.name_key] for item in everything]
    times = [item["CreationTime"] for item in everything]
    assert times == sorted(times, reverse=True)


def test_a_page_holds_ten_items_unless_max_results_says_otherwise(
    tenant: Tenant, twenty_five: list[str]
) -> None:
    first = tenant.page()

    assert len(first[tenant.kind.result_key]) == 10
    assert first["NextToken"]
    assert len(tenant.items(MaxResults=100)) == 25
    last = tenant.page(MaxResults=25)
    assert len(last[tenant.kind.result_key]) == 25
    assert "NextToken" not in last


@pytest.mark.parametrize("order", ["Ascending", "Descending"])
def test_sort_by_name_holds_across_pages(tenant: Tenant, twenty_five: list[str], order: str) -> None:
    walked, sizes = tenant.walk(6, SortBy="Name", SortOrder=order)

    assert walked == sorted(twenty_five, reverse=order == "Descending")
    assert sizes == [6, 6, 6, 6, 1]


def test_creation_time_ascending_is_exactly_the_reverse_of_descending(
    tenant: Tenant, twenty_five: list[str]
) -> None:
    ascending, _ = tenant.walk(4, SortBy="CreationTime", SortOrder="Ascending")
    descending, _ = tenant.walk(9, SortBy="CreationTime", SortOrder="Descending")

    assert sorted(ascending) == sorted(twenty_five)
    assert ascending == list(reversed(descending))
    times = [i["CreationTime"] for i in tenant.items(MaxResults=100, SortOrder="Ascending")]
    assert times == sorted(times)


def test_name_contains_is_a_case_insensitive_substring_filter(tenant: Tenant) -> None:
    tenant.create("alpha-one", "Alpha-Two", "beta-ALPHA", "gamma", "alp-ha")

    assert sorted(tenant.names(NameContains="aLpHa")) == ["Alpha-Two", "alpha-one", "beta-ALPHA"]
    assert tenant.names(NameContains="PHA-T") == ["Alpha-Two"]
    assert tenant.names(NameContains="gamma") == ["gamma"]
    assert tenant.names(NameContains="delta") == []


def test_name_contains_holds_across_pages(tenant: Tenant, twenty_five: list[str]) -> None:
    tenant.create("other-1", "other-2")

    walked, sizes = tenant.walk(2, NameContains="ITEM-1", SortBy="Name", SortOrder="Ascending")

    assert walked == [f"item-1{i}" for i in range(10)]
    assert sizes == [2, 2, 2, 2, 2]


def test_creation_time_after_is_inclusive_and_before_is_exclusive(tenant: Tenant) -> None:
    tenant.create("a0", "a1", "a2", "b0", "b1", "b2", pause=0.005)
    created = {i[tenant.kind.name_key]: i["CreationTime"] for i in tenant.items(MaxResults=100)}

    def between(**bounds: Any) -> list[str]:
        return sorted(tenant.names(MaxResults=100, **bounds))

    assert between(CreationTimeAfter=created["b0"]) == ["b0", "b1", "b2"]
    assert between(CreationTimeBefore=created["b0"]) == ["a0", "a1", "a2"]
    assert between(CreationTimeAfter=created["a1"], CreationTimeBefore=created["b1"]) == ["a1", "a2", "b0"]
    assert between(CreationTimeAfter=created["b2"], CreationTimeBefore=created["b2"]) == []


def test_time_filters_hold_across_pages(tenant: Tenant) -> None:
    names = [f"t{i}" for i in range(9)]
    tenant.create(*names, pause=0.005)
    created = {i[tenant.kind.name_key]: i["CreationTime"] for i in tenant.items(MaxResults=100)}

    walked, sizes = tenant.walk(
        2, CreationTimeAfter=created["t2"], CreationTimeBefore=created["t8"], SortOrder="Ascending"
    )

    assert walked == ["t2", "t3", "t4", "t5", "t6", "t7"]
    assert sizes == [2, 2, 2]


def test_the_botocore_paginator_yields_every_item_once_in_order(
    tenant: Tenant, twenty_five: list[str]
) -> None:
    paginator = tenant.client.get_paginator(tenant.kind.operation)

    pages = list(paginator.paginate(PaginationConfig={"PageSize": 4}))

    walked = [item[tenant.kind.name_key] for page in pages for item in page[tenant.kind.result_key]]
    assert [len(page[tenant.kind.result_key]) for page in pages] == [4, 4, 4, 4, 4, 4, 1]
    assert walked == tenant.names(MaxResults=100)
    assert len(set(walked)) == 25


def test_the_botocore_paginator_resumes_from_its_starting_token(
    tenant: Tenant, twenty_five: list[str]
) -> None:
    paginator = tenant.client.get_paginator(tenant.kind.operation)
    config = {"PageSize": 4, "MaxItems": 10}

    first = paginator.paginate(
        SortBy="Name", SortOrder="Ascending", PaginationConfig=config
    ).build_full_result()
    rest = paginator.paginate(
        SortBy="Name",
        SortOrder="Ascending",
        PaginationConfig={"PageSize": 4, "StartingToken": first["NextToken"]},
    ).build_full_result()

    head = [item[tenant.kind.name_key] for item in first[tenant.kind.result_key]]
    tail = [item[tenant.kind.name_key] for item in rest[tenant.kind.result_key]]
    assert head == sorted(twenty_five)[:10]
    assert tail == sorted(twenty_five)[10:]
    assert "NextToken" not in rest


@pytest.mark.parametrize("token", ["garbage!!", "not-a-token", "e30", "eyJ0IjoibW9kZWwifQ", "bnVsbA"])
def test_a_garbled_next_token_is_refused(tenant: Tenant, token: str) -> None:
    tenant.create("x1", "x2")

    with pytest.raises(ClientError) as exc:
        tenant.page(NextToken=token)

    assert error_of(exc)[0] == "ValidationException"
    assert error_of(exc)[1].startswith("Invalid pagination token")


def test_a_next_token_only_resumes_the_list_it_came_from(tenant: Tenant, twenty_five: list[str]) -> None:
    token = tenant.page(MaxResults=5, SortBy="Name")["NextToken"]

    for changed in (
        {"SortBy": "CreationTime"},
        {"SortBy": "Name", "SortOrder": "Ascending"},
        {"NameContains": "item"},
    ):
        with pytest.raises(ClientError) as exc:
            tenant.page(MaxResults=5, NextToken=token, **changed)
        assert error_of(exc)[0] == "ValidationException"
    # Unchanged, it still resumes where it left off.
    assert (
        tenant.names(MaxResults=5, SortBy="Name", NextToken=token) == sorted(twenty_five, reverse=True)[5:10]
    )


def test_a_models_token_does_not_page_endpoint_configs(server: LiveServer) -> None:
    account = new_account()
    client = server.client("sagemaker", account=account)
    _create_model(client, BASE_MODEL)
    for i in range(3):
        _create_model(client, f"m{i}")
        _create_endpoint_config(client, f"c{i}")
    token = client.list_models(MaxResults=2)["NextToken"]

    with pytest.raises(ClientError) as exc:
        client.list_endpoint_configs(MaxResults=2, NextToken=token)

    assert error_of(exc)[0] == "ValidationException"


@pytest.mark.parametrize(
    ("value", "constraint"),
    [
        (0, "Member must have value greater than or equal to 1"),
        (101, "Member must have value less than or equal to 100"),
    ],
)
def test_max_results_outside_1_to_100_is_refused(tenant: Tenant, value: int, constraint: str) -> None:
    with pytest.raises(ClientError) as exc:
        getattr(tenant.raw, tenant.kind.operation)(MaxResults=value)

    assert error_of(exc) == (
        "ValidationException",
        f"1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy constraint: "
        + constraint,
    )


def test_max_results_of_100_is_accepted(tenant: Tenant) -> None:
    tenant.create("only")

    assert tenant.names(MaxResults=100) == ["only"]


def test_an_unknown_sort_key_or_order_is_refused(tenant: Tenant) -> None:
    operation = getattr(tenant.raw, tenant.kind.operation)

    with pytest.raises(ClientError) as sort_by:
        operation(SortBy="Size")
    with pytest.raises(ClientError) as sort_order:
        operation(SortOrder="Sideways")

    assert error_of(sort_by) == (
        "ValidationException",
        "1 validation error detected: Value 'Size' at 'sortBy' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Name, CreationTime]",
    )
    assert error_of(sort_order) == (
        "ValidationException",
        "1 validation error detected: Value 'Sideways' at 'sortOrder' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Ascending, Descending]",
    )


def test_name_contains_outside_its_pattern_is_refused(tenant: Tenant) -> None:
    with pytest.raises(ClientError) as exc:
        getattr(tenant.raw, tenant.kind.operation)(NameContains="a_b")

    assert error_of(exc) == (
        "ValidationException",
        "1 validation error detected: Value 'a_b' at 'nameContains' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9-]+",
    )


def test_lists_show_only_the_callers_account_and_region(server: LiveServer, tenant: Tenant) -> None:
    tenant.create("mine-1", "mine-2")
    other = Tenant(server, tenant.kind, new_account())
    other.create("theirs")
    elsewhere = Tenant(server, tenant.kind, tenant.account, region="eu-west-1")

    assert sorted(tenant.names()) == ["mine-1", "mine-2"]
    assert other.names() == ["theirs"]
    assert elsewhere.names() == []
