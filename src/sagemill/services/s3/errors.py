"""S3's error codes, statuses and wording, as S3 answers them."""

from __future__ import annotations

from sagemill.aws.errors import ServiceError

MAX_OBJECT_SIZE = 5 * 1024**4
"""The largest object S3 holds (5 TiB)."""

MAX_PUT_SIZE = 5 * 1024**3
"""The largest single PUT, part or copy source (5 GiB)."""


def s3_error(code: str, message: str, status: int = 400, **fields: object) -> ServiceError:
    return ServiceError(code, message, status, fields={k: v for k, v in fields.items() if v is not None})


def no_such_bucket(bucket: str) -> ServiceError:
    return s3_error("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)


def no_such_key(key: str) -> ServiceError:
    return s3_error("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def no_such_upload(upload_id: str) -> ServiceError:
    return s3_error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
        "aborted or completed.",
        404,
        UploadId=upload_id,
    )


def access_denied(headers: dict[str, str] | None = None) -> ServiceError:
    return ServiceError("AccessDenied", "Access Denied", 403, headers=headers)


def invalid_bucket_name(bucket: str) -> ServiceError:
    return s3_error("InvalidBucketName", "The specified bucket is not valid.", BucketName=bucket)


def invalid_argument(message: str, name: str | None = None, value: str | None = None) -> ServiceError:
    return s3_error("InvalidArgument", message, ArgumentName=name, ArgumentValue=value)


def invalid_request(message: str) -> ServiceError:
    return s3_error("InvalidRequest", message)


def invalid_uri() -> ServiceError:
    return s3_error("InvalidURI", "Couldn't parse the specified URI.")


def malformed_xml() -> ServiceError:
    return s3_error(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )


def entity_too_large(size: int, limit: int) -> ServiceError:
    return s3_error(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        ProposedSize=size,
        MaxSizeAllowed=limit,
    )


def bad_digest(algorithm: str) -> ServiceError:
    if algorithm == "MD5":
        return s3_error("BadDigest", "The Content-MD5 you specified did not match what we received.")
    return s3_error("BadDigest", f"The {algorithm} you specified did not match the calculated checksum.")


def precondition_failed(condition: str) -> ServiceError:
    return s3_error(
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        412,
        Condition=condition,
    )


def not_modified(headers: dict[str, str]) -> ServiceError:
    # A 304 has no body; ETag and Last-Modified still go out as headers, as S3 sends them.
    return ServiceError("NotModified", "Not Modified", 304, headers=headers)


def incomplete_body() -> ServiceError:
    return s3_error(
        "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length."
    )
