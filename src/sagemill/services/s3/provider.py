"""The S3 provider: every implemented operation, composed from the per-noun modules.

Buckets are Store rows (global names, owned by the creating account); object bytes and their
metadata live behind the ObjectStore port. Only the owning account may touch a bucket or its
objects; every other account gets 403 AccessDenied (there are no bucket policies or ACLs).

LIMITATIONS:
- No versioning, object lock, lifecycle, replication, tagging, ACLs, bucket policies, CORS,
  website hosting or event notifications; `versionId` is accepted only as `null`.
- Requests signed for any region reach a bucket in any region (S3 would redirect them).
- SSE headers (`aws:kms`, a KMS key id, bucket keys) are recorded and echoed, never applied; SSE-C
  is refused with 501 NotImplemented. Objects report SSE-S3 (`AES256`) by default, as S3 does.
- Checksums: CRC32, CRC32C, SHA1 and SHA256 are verified and stored; CRC64NVME, SHA512, MD5 and
  the XXHASH family are refused. A multipart object has no whole-object (composite) checksum, and
  the checksums named in CompleteMultipartUpload are not compared. DeleteObjects does not verify
  its body's Content-MD5. Trailer checksums are verified when announced in `x-amz-trailer`.
- Conditional writes (If-Match / If-None-Match on PutObject, CopyObject and
  CompleteMultipartUpload) are checked just before the write, not atomically with it.
- GetObject/HeadObject `partNumber` is answered only for part 1 of an object uploaded whole.
- CompleteMultipartUpload's `Location` is a path (`/bucket/key`), not an absolute URL.
- ListObjects(V2) ignore `x-amz-optional-object-attributes`; ListBuckets' `BucketArn` is the ARN.
- Keys holding NUL, or bytes that are not UTF-8, are refused with 400 InvalidURI.
"""

from __future__ import annotations

from sagemill.aws.dispatch import Handler
from sagemill.objectstore.base import ObjectStore
from sagemill.services.clock import Clock
from sagemill.services.s3 import buckets, copying, listing, multipart, objects
from sagemill.services.s3.access import BucketDirectory
from sagemill.store.base import Store


def operations(store: Store, object_store: ObjectStore, clock: Clock) -> dict[str, Handler]:
    directory = BucketDirectory(store)
    return {
        **buckets.operations(directory, object_store, clock),
        **objects.operations(directory, object_store),
        **listing.operations(directory, object_store),
        **copying.operations(directory, object_store),
        **multipart.operations(directory, object_store),
    }
