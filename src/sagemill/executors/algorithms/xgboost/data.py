"""Training and validation channels of the built-in XGBoost read into `xgboost.DMatrix`.

Formats as the container reads them: CSV with the label in column 0 and no header (delimiter sniffed from the
first line; `csv_weights=1` puts instance weights in column 1), LIBSVM (indices taken as written, so 1-based
files get an unused column 0 exactly as xgboost's own parser does), RecordIO-protobuf, and Parquet (column 0
= label) when `pyarrow` is installed. CSV and LIBSVM are parsed here (numpy / scikit-learn) because xgboost
3 deprecates its text readers.
"""

from __future__ import annotations

import csv
import importlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse  # type: ignore[import-untyped]
import xgboost as xgb

from sagemill.executors.algorithms import recordio
from sagemill.executors.algorithms.channels import (
    CSV,
    LIBSVM,
    PARQUET,
    RECORDIO_PROTOBUF,
    ContentType,
    first_line,
    nonempty_files,
    parse_content_type,
)
from sagemill.executors.algorithms.errors import UserError

logger = logging.getLogger("sagemill.algorithm.xgboost")

FORMATS = (CSV, LIBSVM, PARQUET, RECORDIO_PROTOBUF)
DEFAULT_CONTENT_TYPE = "text/libsvm"


def content_type(value: str | None) -> ContentType:
    parsed = parse_content_type(value or DEFAULT_CONTENT_TYPE, FORMATS)
    if parsed.format == CSV and parsed.params.get("label_size", "1") != "1":
        raise UserError(
            f"{value} is not an accepted csv ContentType. Optional parameter label_size must be equal to 1"
        )
    return parsed


def load(channel: str, path: Path, kind: ContentType, csv_weights: int) -> xgb.DMatrix:
    files = nonempty_files(channel, path)
    if kind.format == CSV:
        return _csv(files, csv_weights)
    if kind.format == LIBSVM:
        return _libsvm(files)
    if kind.format == RECORDIO_PROTOBUF:
        return _recordio(files)
    return _parquet(files)


def _csv(files: list[Path], csv_weights: int) -> xgb.DMatrix:
    sample = first_line(files)
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t |").delimiter
    except csv.Error:
        if "," not in sample and len(sample.split()) > 1:
            raise UserError(
                f"Could not determine delimiter on line {sample[:50]}:\nCould not sniff"
            ) from None
        delimiter = ","
    logger.info("Determined delimiter of CSV input is '%s'", delimiter)
    blocks = [_csv_file(path, delimiter) for path in files]
    widths = {b.shape[1] for b in blocks}
    if len(widths) > 1:
        raise UserError(
            f"Failed to load csv data with exception:\nfiles have different column counts {widths}"
        )
    matrix = np.vstack(blocks)
    first_feature = 2 if csv_weights == 1 else 1
    if matrix.shape[1] <= first_feature:
        raise UserError("Failed to load csv data with exception:\nthe CSV has no feature columns")
    weights = matrix[:, 1] if csv_weights == 1 else None
    return xgb.DMatrix(matrix[:, first_feature:], label=matrix[:, 0], weight=weights, missing=np.nan)


def _csv_file(path: Path, delimiter: str) -> npt.NDArray[np.float64]:
    try:
        return np.loadtxt(path, delimiter=delimiter, dtype=np.float64, ndmin=2, encoding="utf-8")
    except ValueError:
        pass
    # Empty fields are missing values for xgboost's own CSV reader; anything else non-numeric is an error.
    try:
        return np.loadtxt(
            path,
            delimiter=delimiter,
            dtype=np.float64,
            ndmin=2,
            encoding="utf-8",
            converters=lambda text: float(text) if text.strip() else np.nan,
        )
    except ValueError as error:
        raise UserError(
            f"Failed to load csv data with exception:\n{error}\n"
            "(built-in XGBoost CSV input has no header row and the label in the first column)"
        ) from error


def _libsvm(files: list[Path]) -> xgb.DMatrix:
    from sklearn.datasets import load_svmlight_files  # type: ignore[import-untyped]

    for path in files:
        _check_libsvm_line(path, first_line([path]))
    try:
        loaded = load_svmlight_files([str(f) for f in files], zero_based=True, dtype=np.float32)
    except ValueError as error:
        raise UserError(f"Failed to load libsvm data with exception:\n{error}") from error
    matrices, labels = loaded[0::2], loaded[1::2]
    matrix = scipy.sparse.vstack(matrices, format="csr")
    return xgb.DMatrix(matrix, label=np.concatenate(labels))


def _check_libsvm_line(path: Path, line: str) -> None:
    tokens = line.split()
    ok = bool(tokens) and _is_number(tokens[0].split(":")[0]) and all(":" in t for t in tokens[1:])
    if not ok:
        raise UserError(
            f"First line '{line[:50]}...' of file '{path.name}' is not 'LIBSVM' format. "
            "Please ensure the file is in 'LIBSVM' format."
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _recordio(files: list[Path]) -> xgb.DMatrix:
    rows: list[int] = []
    cols: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float64]] = []
    labels: list[float] = []
    width = 0
    for path in files:
        try:
            with path.open("rb") as handle:
                for record in recordio.read_records(handle):
                    tensor = record.features.get("values")
                    label = record.label.get("values")
                    if tensor is None or label is None or label.values.size == 0:
                        raise UserError(f"A record in {path.name} has no 'values' features or label")
                    keys = np.asarray(tensor.keys or range(tensor.values.size), dtype=np.int64)
                    width = max(
                        width, int(np.prod(tensor.shape)) if tensor.shape else int(keys.max(initial=-1)) + 1
                    )
                    rows.append(len(labels))
                    cols.append(keys)
                    values.append(tensor.values)
                    labels.append(float(label.values[0]))
        except recordio.RecordIOError as error:
            raise UserError(f"Failed to load recordio-protobuf data with exception:\n{error}") from error
    counts = [c.size for c in cols]
    row_index = np.repeat(np.asarray(rows, dtype=np.int64), counts)
    matrix = scipy.sparse.csr_matrix(
        (np.concatenate(values), (row_index, np.concatenate(cols))), shape=(len(labels), width)
    )
    return xgb.DMatrix(matrix, label=np.asarray(labels))


def _parquet(files: list[Path]) -> xgb.DMatrix:
    try:
        parquet: Any = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise UserError(
            "application/x-parquet input needs the pyarrow package, which this Sagemill server does not "
            "have: send the channel as text/csv or text/libsvm, or ask the operator to install pyarrow"
        ) from None
    blocks = []
    for path in files:
        try:
            table = parquet.read_table(str(path))
            columns = [np.asarray(c.to_numpy(zero_copy_only=False), dtype=np.float64) for c in table.columns]
            blocks.append(np.column_stack(columns))
        except Exception as error:
            raise UserError(f"Failed to load parquet data with exception:\n{error}") from error
    matrix = np.vstack(blocks)
    return xgb.DMatrix(matrix[:, 1:], label=matrix[:, 0], missing=np.nan)
