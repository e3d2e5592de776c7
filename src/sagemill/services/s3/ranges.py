"""HTTP byte ranges as S3 reads them: one `bytes=` range; anything S3 ignores is ignored here too."""

from __future__ import annotations

import re

from sagemill.services.s3.errors import s3_error

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte to send, or None for the whole object.

    A syntactically invalid or multi-range header is ignored (S3 sends the whole object); a range
    that starts past the end, or a zero-length suffix, is 416 InvalidRange.
    """
    if header is None:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise invalid_range(header, size)
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None
    if first >= size:
        raise invalid_range(header, size)
    return first, min(int(last_text), size - 1) if last_text else size - 1


def invalid_range(header: str, size: int) -> Exception:
    return s3_error(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        RangeRequested=header,
        ActualObjectSize=size,
    )


def content_range(first: int, last: int, size: int) -> str:
    return f"bytes {first}-{last}/{size}"
