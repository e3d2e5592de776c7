"""S3 buckets with boto3: create/head/list/delete/location, region rules, ownership and tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from s3_helpers import OTHER, OWNER, bucket, make_bucket, s3, s3_client, signed, unique

from sagemill.testing.live_server import LiveServer

__all__ = ["bucket", "s3"]


def error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_create_head_list_delete(s3: Any) -> None:
    name = unique("life")
    reply = s3.create_bucket(Bucket=name)
    assert reply["Location"] == f"/{name}"
    head = s3.head_bucket(Bucket=name)
    assert head["BucketRegion"] == "us-east-1"
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    listed = s3.list_buckets()
    assert name in [b["Name"] for b in listed["Buckets"]]
    assert listed["Owner"]["ID"] and len(listed["Owner"]["ID"]) == 64
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    assert s3.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as caught:
        s3.head_bucket(Bucket=name)
    assert error(caught) == ("404", "Not Found", 404)


def test_head_bucket_404_is_exactly_what_the_sagemaker_sdk_compares(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.head_bucket(Bucket=unique("missing"), ExpectedBucketOwner=OWNER)
    # sagemaker.Session._create_s3_bucket_if_it_does_not_exist compares these strings exactly.
    assert caught.value.response["Error"]["Code"] == "404"
    assert caught.value.response["Error"]["Message"] == "Not Found"


def test_head_bucket_of_another_account_is_a_bodyless_403(server: LiveServer, bucket: str) -> None:
    other = s3_client(server, account=OTHER)
    with pytest.raises(ClientError) as caught:
        other.head_bucket(Bucket=bucket)
    assert error(caught) == ("403", "Forbidden", 403)
    url = f"{server.url}/{bucket}"
    raw = requests.head(url, headers=signed("HEAD", url, account=OTHER))
    assert raw.status_code == 403 and raw.content == b""
    assert raw.headers["x-amz-bucket-region"] == "us-east-1"


def test_expected_bucket_owner_must_match(s3: Any, bucket: str) -> None:
    s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=OWNER)
    with pytest.raises(ClientError) as caught:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=OTHER)
    assert error(caught) == ("403", "Forbidden", 403)
    for call in (
        lambda: s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=OTHER),
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner=OTHER),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert error(caught) == ("AccessDenied", "Access Denied", 403)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner=OWNER)


def test_recreating_your_own_bucket(server: LiveServer) -> None:
    us = s3_client(server)
    name = make_bucket(us)
    assert us.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200  # us-east-1 legacy
    eu = s3_client(server, region="eu-west-1")
    eu_name = unique("eu")
    eu.create_bucket(Bucket=eu_name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with pytest.raises(ClientError) as caught:
        eu.create_bucket(Bucket=eu_name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert error(caught)[0] == "BucketAlreadyOwnedByYou"
    assert error(caught)[2] == 409
    assert eu.get_bucket_location(Bucket=eu_name)["LocationConstraint"] == "eu-west-1"
    assert eu.head_bucket(Bucket=eu_name)["BucketRegion"] == "eu-west-1"


def test_bucket_names_are_global_across_accounts(server: LiveServer, bucket: str) -> None:
    other = s3_client(server, account=OTHER)
    with pytest.raises(ClientError) as caught:
        other.create_bucket(Bucket=bucket)
    code, _, status = error(caught)
    assert (code, status) == ("BucketAlreadyExists", 409)
    assert bucket not in [b["Name"] for b in other.list_buckets()["Buckets"]]


@pytest.mark.parametrize(
    ("region", "constraint", "code"),
    [
        ("eu-west-1", None, "IllegalLocationConstraintException"),
        ("eu-west-1", "us-west-2", "IllegalLocationConstraintException"),
        # S3 says InvalidLocationConstraint; botocore's model has no "us-east-1" in the enum, so the
        # gateway's model validation refuses it first, as S3's generic InvalidArgument.
        ("us-east-1", "us-east-1", "InvalidArgument"),
    ],
)
def test_location_constraint_rules(
    server: LiveServer, region: str, constraint: str | None, code: str
) -> None:
    client = s3_client(server, region=region)
    kwargs: dict[str, Any] = {"Bucket": unique("where")}
    if constraint:
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": constraint}
    with pytest.raises(ClientError) as caught:
        client.create_bucket(**kwargs)
    assert error(caught)[0] == code
    assert error(caught)[2] == 400


def test_us_east_1_endpoint_may_create_in_another_region(s3: Any) -> None:
    name = unique("far")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "ap-southeast-2"
    listed = {b["Name"]: b for b in s3.list_buckets(BucketRegion="ap-southeast-2")["Buckets"]}
    assert listed[name]["BucketRegion"] == "ap-southeast-2"
    s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "Upper-case",
        "under_score",
        "-leading",
        "trailing-",
        "two..dots",
        "192.168.1.1",
        "xn--punycode",
        "name-s3alias",
        "sthree-bucket",
    ],
)
def test_invalid_bucket_names(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket=name)
    assert error(caught)[:1] == ("InvalidBucketName",)
    assert error(caught)[2] == 400


def test_bucket_not_empty_and_no_such_bucket(s3: Any) -> None:
    name = make_bucket(s3)
    s3.put_object(Bucket=name, Key="keep", Body=b"1")
    with pytest.raises(ClientError) as caught:
        s3.delete_bucket(Bucket=name)
    assert error(caught)[0::2] == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="keep")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as caught:
        s3.list_objects_v2(Bucket=name)
    assert error(caught) == ("NoSuchBucket", "The specified bucket does not exist", 404)
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.put_object(Bucket=name, Key="k", Body=b"x")


def test_list_buckets_paginates_and_filters(server: LiveServer) -> None:
    client = s3_client(server, account="333333333333")
    names = sorted(make_bucket(client, "page") for _ in range(5))
    first = client.list_buckets(MaxBuckets=2, Prefix="page-")
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    assert first["Prefix"] == "page-"
    second = client.list_buckets(MaxBuckets=2, Prefix="page-", ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in second["Buckets"]] == names[2:4]
    everything = [
        b["Name"] for page in client.get_paginator("list_buckets").paginate() for b in page["Buckets"]
    ]
    assert everything == names


def test_tenant_isolation_on_objects(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"owner only")
    other = s3_client(server, account=OTHER)
    attempts = [
        lambda: other.get_object(Bucket=bucket, Key="secret.txt"),
        lambda: other.put_object(Bucket=bucket, Key="planted.txt", Body=b"x"),
        lambda: other.delete_object(Bucket=bucket, Key="secret.txt"),
        lambda: other.list_objects_v2(Bucket=bucket),
        lambda: other.create_multipart_upload(Bucket=bucket, Key="mp"),
        lambda: other.delete_bucket(Bucket=bucket),
        lambda: other.copy_object(
            Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "secret.txt"}
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as caught:
            attempt()
        assert error(caught)[0::2] == ("AccessDenied", 403)
    # Copying out of someone else's bucket into your own is refused as well.
    mine = make_bucket(other)
    with pytest.raises(ClientError) as caught:
        other.copy_object(Bucket=mine, Key="stolen", CopySource={"Bucket": bucket, "Key": "secret.txt"})
    assert error(caught)[0::2] == ("AccessDenied", 403)
    assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"owner only"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["secret.txt"]


def test_virtual_hosted_style_addressing(server: LiveServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=b"virtual")
    for host in (f"{bucket}.localhost:{server.port}", f"{bucket}.localhost"):
        url = f"http://{host}/dir/hello.txt"
        headers = signed("GET", url, payload="UNSIGNED-PAYLOAD")
        reply = requests.get(f"{server.url}/dir/hello.txt", headers={**headers, "Host": host})
        assert reply.status_code == 200, reply.content
        assert reply.content == b"virtual"
    listing_url = f"http://{bucket}.localhost:{server.port}/?list-type=2"
    headers = signed("GET", listing_url, payload="UNSIGNED-PAYLOAD")
    reply = requests.get(f"{server.url}/?list-type=2", headers={**headers, "Host": f"{bucket}.localhost"})
    assert reply.status_code == 200 and b"<Key>dir/hello.txt</Key>" in reply.content
    # A Host that names no bucket keeps path style.
    url = f"{server.url}/{bucket}/dir/hello.txt"
    assert requests.get(url, headers=signed("GET", url, payload="UNSIGNED-PAYLOAD")).content == b"virtual"
