"""csv_rows: the fast readers and the checked path agree; bad rows are named."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sagemill.serving.model_server.decoders import csv_rows
from sagemill.serving.model_server.errors import InferenceError


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"1,2,3", [[1, 2, 3]]),
        (b"1,2,3\n4,5,6\n", [[1, 2, 3], [4, 5, 6]]),
        (b"1, 2 ,3\r\n4,5,6e1", [[1, 2, 3], [4, 5, 60]]),
        (b"1\t2\n3\t4", [[1, 2], [3, 4]]),
        (b"0.5;-1\n2;nan", [[0.5, -1], [2, math.nan]]),
    ],
)
def test_clean_bodies(body: bytes, expected: list[list[float]]) -> None:
    rows = csv_rows(body)
    assert rows.dtype == np.float32
    np.testing.assert_allclose(rows, np.array(expected, dtype=np.float32))


def test_empty_fields_are_missing_values_in_one_row_and_many() -> None:
    one = csv_rows(b"1,,3")
    many = csv_rows(b"1,,3\n4,5,")
    assert one.shape == (1, 3) and math.isnan(one[0, 1])
    assert many.shape == (2, 3) and math.isnan(many[0, 1]) and math.isnan(many[1, 2])
    assert many[1, 1] == 5


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"1,2,3\n4,5", "row 2 has 2 values but row 1 has 3"),
        (b"1,2\n3,abc", "row 2, column 2: 'abc' is not a number"),
        (b"#1,2\n3,4", "row 1, column 1: '#1' is not a number"),
    ],
)
def test_bad_rows_are_named(body: bytes, fragment: str) -> None:
    with pytest.raises(InferenceError) as error:
        csv_rows(body)
    assert fragment in str(error.value)
