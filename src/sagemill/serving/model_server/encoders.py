"""Response encoders: lists of prediction records as JSON, jsonlines or CSV, the built-in containers' way."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sagemill.serving.model_server.media import CSV, JSON, JSONLINES


def records(predictions: list[dict[str, Any]], accept: str, csv_keys: tuple[str, ...]) -> bytes:
    """JSON `{"predictions":[...]}`, one object per jsonlines line, or CSV columns `csv_keys` in order.

    A list value becomes one quoted CSV field (`"[0.1, 0.9]"`), as the XGBoost container writes it.
    """
    if accept == JSON:
        return json.dumps({"predictions": predictions}).encode()
    if accept == JSONLINES:
        return "".join(json.dumps(p) + "\n" for p in predictions).encode()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for prediction in predictions:
        writer.writerow([_csv_value(prediction[key]) for key in csv_keys])
    return buffer.getvalue().encode()


def _csv_value(value: Any) -> Any:
    return str(value) if isinstance(value, list) else value


def scores(values: list[Any], accept: str) -> bytes:
    """Plain predictions: `{"predictions":[{"score": v}]}`; CSV one row per line, vectors comma-joined."""
    if accept == JSON:
        return json.dumps({"predictions": [{"score": v} for v in values]}).encode()
    if accept == JSONLINES:
        return "".join('{"score": ' + json.dumps(v) + "}\n" for v in values).encode()
    assert accept == CSV
    if values and isinstance(values[0], list):
        return "".join(",".join(map(repr, row)) + "\n" for row in values).encode()
    return ("\n".join(map(repr, values)) + "\n").encode()
