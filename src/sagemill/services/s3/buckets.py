"""CreateBucket, HeadBucket, ListBuckets, DeleteBucket and GetBucketLocation."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.domain.errors import AlreadyExists
from sagemill.domain.resources import Resource, ResourceQuery, SortKey, SortOrder
from sagemill.objectstore.base import ObjectStore
from sagemill.services.clock import Clock, to_datetime
from sagemill.services.s3.access import (
    GLOBAL_REGION,
    KIND,
    US_EAST_1,
    Bucket,
    BucketDirectory,
    bucket_arn,
    bucket_key,
)
from sagemill.services.s3.errors import invalid_argument, s3_error
from sagemill.services.s3.names import check_bucket_name, owner

_PAGE = 1000


def resolve_region(request_region: str, constraint: str | None) -> str:
    """The region a new bucket lands in, refusing what S3 refuses for this endpoint's region."""
    if constraint == "EU":
        constraint = "eu-west-1"  # S3's legacy name for Ireland
    if not constraint:
        if request_region != US_EAST_1:
            raise s3_error(
                "IllegalLocationConstraintException",
                "The unspecified location constraint is incompatible for the region specific endpoint "
                "this request was sent to.",
            )
        return US_EAST_1
    if constraint == US_EAST_1:
        # us-east-1 is the default and may not be named (S3's long-standing quirk).
        raise s3_error(
            "InvalidLocationConstraint",
            "The specified location-constraint is not valid",
            LocationConstraint=constraint,
        )
    if request_region not in (US_EAST_1, constraint):
        raise s3_error(
            "IllegalLocationConstraintException",
            f"The {constraint} location constraint is incompatible for the region specific endpoint "
            "this request was sent to.",
        )
    return constraint


def _already_taken(context: RequestContext, existing: Bucket, objects: ObjectStore) -> dict[str, Any]:
    if existing.account_id != context.account_id:
        raise s3_error(
            "BucketAlreadyExists",
            "The requested bucket name is not available. The bucket namespace is shared by all users of "
            "the system. Please select a different name and try again.",
            409,
            BucketName=existing.name,
        )
    if existing.region != US_EAST_1:
        raise s3_error(
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
            409,
            BucketName=existing.name,
        )
    # us-east-1's legacy answer to re-creating your own bucket is 200; the space is ensured again so
    # a bucket whose space a crash lost mid-delete becomes usable.
    objects.create_bucket_space(existing.name)
    return {"Location": f"/{existing.name}"}


def _encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode("ascii")


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise invalid_argument(
            "The continuation token provided is incorrect", "continuation-token", token
        ) from None


def _summary(bucket: Bucket) -> dict[str, Any]:
    return {
        "Name": bucket.name,
        "CreationDate": to_datetime(bucket.created_at),
        "BucketRegion": bucket.region,
        "BucketArn": bucket_arn(bucket.name),
    }


def operations(directory: BucketDirectory, objects: ObjectStore, clock: Clock) -> dict[str, Handler]:
    store = directory.store

    def create_bucket(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Bucket"]
        check_bucket_name(name)
        config = params.get("CreateBucketConfiguration") or {}
        region = resolve_region(context.region, config.get("LocationConstraint"))
        existing = directory.find(name)
        if existing is not None:
            return _already_taken(context, existing, objects)
        # The space first: if the row then loses a race, the space is the winner's (never removed here).
        objects.create_bucket_space(name)
        now = round(clock(), 3)
        desired: dict[str, Any] = {"Region": region}
        if config.get("LocationConstraint"):
            desired["LocationConstraint"] = config["LocationConstraint"]
        resource = Resource(bucket_key(context.account_id, name), bucket_arn(name), desired, now, now)
        try:
            store.create_resource(resource, [])
        except AlreadyExists:
            raced = directory.find(name)
            if raced is None:
                raise s3_error(
                    "OperationAborted",
                    "A conflicting conditional operation is currently in progress against this resource. "
                    "Please try again.",
                    409,
                ) from None
            return _already_taken(context, raced, objects)
        return {"Location": f"/{name}", "BucketArn": bucket_arn(name)}

    def head_bucket(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        return {"BucketRegion": bucket.region, "AccessPointAlias": False}

    def list_buckets(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("Prefix") or ""
        region = params.get("BucketRegion")
        limit = params.get("MaxBuckets")
        token = params.get("ContinuationToken")
        after = _decode_token(token) if token else None
        found: list[Bucket] = []
        more = True
        while more and (limit is None or len(found) <= limit):
            query = ResourceQuery(
                context.account_id,
                GLOBAL_REGION,
                KIND,
                sort_key=SortKey.NAME,
                sort_order=SortOrder.ASCENDING,
                limit=_PAGE,
                after=(after, after) if after is not None else None,
            )
            page, more = store.list_resources(query)
            for resource in page:
                bucket = Bucket.from_resource(resource)
                if bucket.name.startswith(prefix) and (region is None or bucket.region == region):
                    found.append(bucket)
            if page:
                after = page[-1].key.name
        result: dict[str, Any] = {"Owner": owner(context.account_id)}
        if limit is not None and len(found) > limit:
            found = found[:limit]
            result["ContinuationToken"] = _encode_token(found[-1].name)
        result["Buckets"] = [_summary(b) for b in found]
        if prefix:
            result["Prefix"] = prefix
        return result

    def delete_bucket(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        if not objects.bucket_is_empty(bucket.name):
            raise s3_error(
                "BucketNotEmpty", "The bucket you tried to delete is not empty", 409, BucketName=bucket.name
            )
        # The space goes first: a crash in between leaves a row whose space CreateBucket restores.
        objects.delete_bucket_space(bucket.name)
        store.delete_resource(bucket_key(bucket.account_id, bucket.name))
        return {}

    def get_bucket_location(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        if bucket.region == US_EAST_1:
            return {}
        return {"LocationConstraint": bucket.location_constraint or bucket.region}

    return {
        "CreateBucket": create_bucket,
        "HeadBucket": head_bucket,
        "ListBuckets": list_buckets,
        "DeleteBucket": delete_bucket,
        "GetBucketLocation": get_bucket_location,
    }
