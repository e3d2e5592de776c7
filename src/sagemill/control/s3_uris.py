"""s3:// URIs as (bucket, key), and the rule that a job reads and writes only its own account's buckets."""

from __future__ import annotations

from dataclasses import dataclass

from sagemill.store.base import Store


class AccessProblem(Exception):
    """A URI the job may not use; the message is the user-facing ClientError text."""


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    key: str

    def child(self, *parts: str) -> S3Location:
        key = self.key.rstrip("/")
        tail = "/".join(p.strip("/") for p in parts)
        return S3Location(self.bucket, f"{key}/{tail}" if key else tail)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str) -> S3Location:
    if not uri.startswith("s3://"):
        raise AccessProblem(f"ClientError: {uri[:256]} is not an s3:// URI.")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise AccessProblem(f"ClientError: {uri[:256]} names no bucket.")
    return S3Location(bucket, key)


def check_owned(store: Store, account_id: str, location: S3Location) -> None:
    """Jobs touch only buckets of the account that runs them (no cross-tenant reads or writes)."""
    bucket = store.get_resource_by_arn(f"arn:aws:s3:::{location.bucket}")
    if bucket is None or bucket.key.account_id != account_id:
        raise AccessProblem(
            f"ClientError: Data download failed: bucket {location.bucket} does not exist or is not owned "
            f"by account {account_id}."
        )
