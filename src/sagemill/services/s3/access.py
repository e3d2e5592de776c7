"""Who owns a bucket, and the checks every bucket and object operation makes before touching it.

Buckets are rows in the Store under kind `bucket`, ARN `arn:aws:s3:::<name>`: the ARN column is
globally unique, so a name taken by one account is taken for all, as in S3. S3 names are global, so
the row's key region is the fixed GLOBAL_REGION (one ListBuckets query covers every region); the
bucket's own region is kept in the row.
"""

from __future__ import annotations

from dataclasses import dataclass

from sagemill.aws.context import RequestContext
from sagemill.domain.resources import Resource, ResourceKey
from sagemill.services.s3.errors import access_denied, no_such_bucket
from sagemill.store.base import Store

KIND = "bucket"
GLOBAL_REGION = "aws-global"
US_EAST_1 = "us-east-1"


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def bucket_key(account_id: str, name: str) -> ResourceKey:
    return ResourceKey(account_id, GLOBAL_REGION, KIND, name)


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    account_id: str
    region: str
    created_at: float
    location_constraint: str | None

    @classmethod
    def from_resource(cls, resource: Resource) -> Bucket:
        desired = resource.desired
        return cls(
            resource.key.name,
            resource.key.account_id,
            str(desired.get("Region", US_EAST_1)),
            resource.created_at,
            desired.get("LocationConstraint"),
        )


class BucketDirectory:
    """Finds buckets by name and applies S3's ownership rules."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def find(self, name: str) -> Bucket | None:
        resource = self.store.get_resource_by_arn(bucket_arn(name))
        if resource is None or resource.key.kind != KIND:
            return None
        return Bucket.from_resource(resource)

    def require(self, context: RequestContext, name: str, expected_owner: str | None = None) -> Bucket:
        """The caller's bucket; NoSuchBucket if none, AccessDenied if another account's.

        `expected_owner` is `x-amz-expected-bucket-owner`: when set it must name the owning account.
        """
        bucket = self.find(name)
        if bucket is None:
            raise no_such_bucket(name)
        if bucket.account_id != context.account_id or (
            expected_owner and expected_owner != bucket.account_id
        ):
            raise access_denied({"x-amz-bucket-region": bucket.region})
        return bucket
