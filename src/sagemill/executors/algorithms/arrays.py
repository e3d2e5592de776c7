"""Dense numeric arrays from a channel's CSV or RecordIO-protobuf files, for k-means and linear-learner."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sagemill.executors.algorithms import recordio
from sagemill.executors.algorithms.channels import CSV, RECORDIO_PROTOBUF, ContentType
from sagemill.executors.algorithms.errors import UserError

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Dataset:
    features: Matrix
    labels: npt.NDArray[np.float64] | None

    @property
    def rows(self) -> int:
        return int(self.features.shape[0])


def load(files: list[Path], content_type: ContentType, feature_dim: int | None, with_label: bool) -> Dataset:
    """Read every file; CSV has no header and, when `with_label`, the label in its first column.

    `feature_dim` is the width every record must have; None accepts the data's own (linear-learner's `auto`).
    """
    if content_type.format == CSV:
        dataset = _load_csv(files, content_type, with_label)
    elif content_type.format == RECORDIO_PROTOBUF:
        dataset = _load_recordio(files, feature_dim, with_label)
    else:  # pragma: no cover - parse_content_type only lets the two through
        raise UserError(f"Unsupported content type {content_type.format}")
    width = dataset.features.shape[1]
    if feature_dim is not None and width != feature_dim:
        raise UserError(
            f"The data has {width} features per record but the hyperparameter feature_dim is {feature_dim}; "
            "set feature_dim to the number of feature columns"
            + (" (the first CSV column is the label)" if with_label and content_type.format == CSV else "")
        )
    if not np.all(np.isfinite(dataset.features)):
        raise UserError(
            "The data contains missing, NaN or infinite feature values, which this algorithm rejects"
        )
    return dataset


def _load_csv(files: list[Path], content_type: ContentType, with_label: bool) -> Dataset:
    label_size = content_type.params.get("label_size", "1" if with_label else "0")
    if label_size != ("1" if with_label else "0"):
        raise UserError(
            f"text/csv;label_size={label_size} is not supported: use label_size={'1' if with_label else '0'}"
        )
    blocks: list[Matrix] = []
    for path in files:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            sample = handle.readline()
        delimiter = _delimiter(sample)
        try:
            block = np.loadtxt(path, delimiter=delimiter, dtype=np.float64, ndmin=2, encoding="utf-8")
        except ValueError as error:
            raise UserError(
                f"Unable to read CSV file {path.name}: {error}. The CSV must be numeric with no header row"
                + (" and the label in the first column" if with_label else "")
            ) from error
        if block.size:
            blocks.append(block)
    if not blocks:
        raise UserError("The channel's CSV files hold no records")
    widths = {b.shape[1] for b in blocks}
    if len(widths) > 1:
        raise UserError(f"The CSV files do not all have the same number of columns: {sorted(widths)}")
    matrix = np.vstack(blocks)
    if with_label:
        if matrix.shape[1] < 2:
            raise UserError("The CSV has a label column but no feature columns")
        return Dataset(matrix[:, 1:], matrix[:, 0])
    return Dataset(matrix, None)


def _delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t |").delimiter
    except csv.Error:
        return ","  # one column, or a value the sniffer cannot split: comma is the only sane default


def _load_recordio(files: list[Path], feature_dim: int | None, with_label: bool) -> Dataset:
    rows: list[npt.NDArray[np.float64]] = []
    labels: list[float] = []
    for path in files:
        try:
            with path.open("rb") as handle:
                for record in recordio.read_records(handle):
                    tensor = record.features.get("values")
                    if tensor is None:
                        raise UserError(f"A record in {path.name} has no 'values' feature tensor")
                    rows.append(tensor.dense(feature_dim if tensor.keys else None))
                    if with_label:
                        label = record.label.get("values")
                        if label is None or label.values.size == 0:
                            raise UserError(f"A record in {path.name} has no label")
                        labels.append(float(label.values[0]))
        except recordio.RecordIOError as error:
            raise UserError(
                f"Unable to read {path.name} as application/x-recordio-protobuf: {error}"
            ) from error
    if not rows:
        raise UserError("The channel's RecordIO-protobuf files hold no records")
    widths = {row.shape[0] for row in rows}
    if len(widths) > 1:
        raise UserError(f"Records do not all have the same number of features: {sorted(widths)}")
    features = np.vstack(rows)
    return Dataset(features, np.asarray(labels, dtype=np.float64) if with_label else None)
