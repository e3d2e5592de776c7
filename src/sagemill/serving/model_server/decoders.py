"""Request decoders: headerless CSV, libsvm, RecordIO-protobuf and the Amazon algorithms' JSON to arrays."""

from __future__ import annotations

import io
import json
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from sagemill.executors.algorithms import recordio
from sagemill.serving.model_server.errors import bad_request

Matrix = npt.NDArray[Any]


def csv_rows(body: bytes, dtype: type[np.floating[Any]] = np.float32) -> Matrix:
    """Headerless CSV → (rows, columns); an empty field is a missing value (NaN), as the XGBoost container.

    Fast path: numpy's C text parser over the whole body, then a count check; only a body it cannot read
    in full takes the slow path, which exists to say exactly which row or value is wrong.
    """
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError as error:
        raise bad_request(f"Loading csv data failed: the body is not UTF-8 ({error}).") from None
    lines = text.splitlines()
    delimiter = _delimiter(lines[0])
    columns = lines[0].count(delimiter) + 1
    try:
        if len(lines) > 1:
            # loadtxt's C reader is ~1.5x fromstring's over many rows; a ragged or empty field raises.
            values = np.loadtxt(lines, delimiter=delimiter, dtype=dtype, comments=None, ndmin=2).ravel()
        else:
            with warnings.catch_warnings():
                # numpy 1.x only warns when it stops early (numpy 2 raises); the count check covers both.
                warnings.simplefilter("ignore", DeprecationWarning)
                values = np.fromstring(text, dtype=dtype, sep=delimiter)
    except ValueError:
        return _csv_rows_checked(lines, delimiter, columns, dtype)
    if values.size == len(lines) * columns:
        return values.reshape(len(lines), columns)
    return _csv_rows_checked(lines, delimiter, columns, dtype)


def _delimiter(first_line: str) -> str:
    if "," in first_line:
        return ","
    for candidate in ("\t", ";", "|"):
        if candidate in first_line:
            return candidate
    return ","


def _csv_rows_checked(
    lines: list[str], delimiter: str, columns: int, dtype: type[np.floating[Any]]
) -> Matrix:
    out = np.empty((len(lines), columns), dtype=dtype)
    for number, line in enumerate(lines, start=1):
        fields = line.split(delimiter)
        if len(fields) != columns:
            raise bad_request(
                f"Loading csv data failed: row {number} has {len(fields)} values but row 1 has {columns} "
                "(rows must have the same number of columns; no header, no label column)."
            )
        for column, field in enumerate(fields):
            field = field.strip()
            try:
                out[number - 1, column] = float(field) if field else np.nan
            except ValueError:
                raise bad_request(
                    f"Loading csv data failed: row {number}, column {column + 1}: "
                    f"{field[:40]!r} is not a number."
                ) from None
    return out


def libsvm_rows(body: bytes) -> tuple[Matrix, Matrix, Matrix, int]:
    """libsvm lines (`[label] index:value ...`) → CSR parts (data, indices, indptr) and the column count."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise bad_request(f"Loading libsvm data failed: the body is not UTF-8 ({error}).") from None
    data: list[float] = []
    indices: list[int] = []
    indptr = [0]
    for number, line in enumerate(text.strip().splitlines(), start=1):
        tokens = line.split()
        if tokens and ":" not in tokens[0]:
            tokens = tokens[1:]  # the label (or a placeholder): ignored at inference
        for token in tokens:
            index, sep, value = token.partition(":")
            try:
                if not sep:
                    raise ValueError
                indices.append(int(index))
                data.append(float(value))
            except ValueError:
                raise bad_request(
                    f"Loading libsvm data failed: line {number}: {token[:40]!r} is not index:value."
                ) from None
            if indices[-1] < 0:
                raise bad_request(f"Loading libsvm data failed: line {number}: negative index {indices[-1]}.")
        indptr.append(len(indices))
    width = max(indices) + 1 if indices else 0
    return (
        np.asarray(data, dtype=np.float32),
        np.asarray(indices, dtype=np.int64),
        np.asarray(indptr, dtype=np.int64),
        width,
    )


def recordio_rows(body: bytes, dtype: type[np.floating[Any]] = np.float32) -> Matrix:
    """RecordIO-protobuf records (dense or sparse `values` features) → (rows, columns)."""
    try:
        tensors = [record.features["values"] for record in recordio.read_records(io.BytesIO(body))]
    except (recordio.RecordIOError, KeyError) as error:
        raise bad_request(f"Loading recordio-protobuf data failed: {error}") from None
    if not tensors:
        raise bad_request("Loading recordio-protobuf data failed: no records.")
    width = max(
        int(np.prod(t.shape)) if t.shape else (max(t.keys) + 1 if t.keys else t.values.size) for t in tensors
    )
    try:
        rows = [t.dense(width) if t.keys else t.values for t in tensors]
        return np.asarray(np.vstack(rows), dtype=dtype)
    except (ValueError, recordio.RecordIOError) as error:
        raise bad_request(f"Loading recordio-protobuf data failed: {error}") from None


def instances_rows(body: bytes, jsonlines: bool = False) -> Matrix:
    """Amazon algorithms' JSON: {"instances":[{"features":[...]}, {"data":{"features":{"values":[...]}}}]}.

    Also accepted: a bare list of rows, and jsonlines with one `{"features":[...]}` (or a list) per line.
    """
    try:
        if jsonlines:
            items: Any = [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
        else:
            document = json.loads(body)
            items = document.get("instances") if isinstance(document, dict) else document
        if not isinstance(items, list) or not items:
            raise ValueError('expected {"instances": [...]} with at least one instance')
        rows = [_instance_features(item) for item in items]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise bad_request(f"Loading json data failed: {error}") from None


def _instance_features(item: Any) -> Any:
    if isinstance(item, list):
        return item
    if "features" in item:
        return item["features"]
    features = item["data"]["features"]
    if "keys" in features and features.get("keys"):
        width = int(np.prod(features["shape"]))
        dense = [0.0] * width
        for key, value in zip(features["keys"], features["values"], strict=True):
            dense[int(key)] = float(value)
        return dense
    return features["values"]
