"""Input channels of a built-in algorithm: which are allowed, their content types and their data files."""

from __future__ import annotations

import email.message
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sagemill.executors.algorithms.errors import UserError
from sagemill.executors.algorithms.job import Job

CSV = "csv"
LIBSVM = "libsvm"
PARQUET = "parquet"
RECORDIO_PROTOBUF = "recordio-protobuf"

# Every spelling the AWS containers accept, by the format it names.
CONTENT_TYPES = {
    "csv": CSV,
    "text/csv": CSV,
    "libsvm": LIBSVM,
    "text/libsvm": LIBSVM,
    "text/x-libsvm": LIBSVM,
    "parquet": PARQUET,
    "application/x-parquet": PARQUET,
    "recordio-protobuf": RECORDIO_PROTOBUF,
    "application/x-recordio-protobuf": RECORDIO_PROTOBUF,
}


@dataclass(frozen=True, slots=True)
class ContentType:
    format: str
    params: dict[str, str]


def parse_content_type(value: str, accepted: Sequence[str]) -> ContentType:
    """Map a channel's ContentType (`text/csv;label_size=1`) to a format among `accepted`."""
    message = email.message.Message()
    message["content-type"] = value.lower()
    media_type = message.get_content_type() if "/" in value else value.lower().split(";")[0].strip()
    params = {k: v for k, v in message.get_params(failobj=[])[1:]}
    fmt = CONTENT_TYPES.get(media_type)
    if fmt is None or fmt not in accepted:
        spellings = ", ".join(k for k, v in CONTENT_TYPES.items() if v in accepted)
        raise UserError(f"{value} is not an accepted ContentType: {spellings}.")
    return ContentType(fmt, params)


def validate_channels(job: Job, required: Sequence[str], optional: Sequence[str]) -> None:
    """Reject missing required and unknown channels with the toolkit's messages."""
    for name in required:
        if name not in job.channels:
            raise UserError(f"Missing required channel: {name}")
    for name in job.channels:
        if name not in required and name not in optional:
            raise UserError(f"Extraneous channel found: {name}")


def data_files(path: Path) -> list[Path]:
    """The channel's data files, sorted, in nested folders too; names starting with `.` or `_` are skipped.

    The platform has already decompressed gzip channels, so every file is read as is.
    """
    if path.is_file():
        return [path]
    found: list[Path] = []
    for root, dirs, files in os.walk(path, followlinks=True):
        # Hidden and underscore folders (`_SUCCESS` markers, `.ipynb_checkpoints`) are skipped like files.
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        found += [Path(root) / f for f in sorted(files) if not f.startswith((".", "_"))]
    return found


def nonempty_files(channel: str, path: Path) -> list[Path]:
    """The channel's data files, or a UserError worded as the XGBoost container's when there are none."""
    if not path.exists():
        raise UserError(f"{path} is not a valid path!")
    files = [f for f in data_files(path) if f.stat().st_size > 0]
    if not files:
        label = "training" if channel == "train" else channel
        raise UserError(f"No data in {label} channel path {path}")
    return files


def first_line(files: Iterable[Path]) -> str:
    for path in files:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.strip():
                    return line
    return ""
