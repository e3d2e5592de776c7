"""The model server's built-in XGBoost contract, against real server processes and real boosters."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xgboost
from test_model_server_support import Server, csv_body, running, xgboost_model

from sagemill.executors.algorithms import recordio


def _expected(model_dir: Path, rows: np.ndarray) -> np.ndarray:
    booster = xgboost.Booster()
    booster.load_model(bytearray((model_dir / "xgboost-model").read_bytes()))
    return np.asarray(booster.inplace_predict(rows.astype(np.float32)))


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, np.ndarray, np.ndarray]]:
    model_dir, features = xgboost_model(tmp_path_factory.mktemp("binary"), "binary:logistic")
    rows = features[:4]
    with running(model_dir, "xgboost") as server:
        yield server, rows, _expected(model_dir, np.asarray([[float(f"{v:.6g}") for v in r] for r in rows]))


def test_csv_default_accept_is_csv_one_row_per_line(binary: tuple[Server, np.ndarray, np.ndarray]) -> None:
    server, rows, expected = binary
    response = server.invoke(csv_body(rows))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv"
    values = [float(line) for line in response.text.strip().split("\n")]
    np.testing.assert_allclose(values, expected, rtol=1e-6)


@pytest.mark.parametrize("accept", [None, "*/*", "text/csv", "application/json", "application/jsonlines"])
def test_every_accept(binary: tuple[Server, np.ndarray, np.ndarray], accept: str | None) -> None:
    server, rows, expected = binary
    response = server.invoke(csv_body(rows), accept=accept)
    assert response.status_code == 200
    if accept == "application/json":
        assert response.headers["Content-Type"] == "application/json"
        scores = [p["score"] for p in response.json()["predictions"]]
    elif accept == "application/jsonlines":
        scores = [json.loads(line)["score"] for line in response.text.splitlines()]
    else:
        assert response.headers["Content-Type"] == "text/csv"
        scores = [float(line) for line in response.text.split()]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)


def test_libsvm_and_recordio_inputs(binary: tuple[Server, np.ndarray, np.ndarray]) -> None:
    server, rows, expected = binary
    rounded = np.asarray([[float(f"{v:.6g}") for v in r] for r in rows])
    libsvm = "\n".join("0 " + " ".join(f"{i}:{v:.6g}" for i, v in enumerate(r)) for r in rounded).encode()
    for content_type in ("text/libsvm", "text/x-libsvm"):
        response = server.invoke(libsvm, content_type, "application/json")
        assert response.status_code == 200, response.text
        np.testing.assert_allclose([p["score"] for p in response.json()["predictions"]], expected, rtol=1e-5)
    import io

    buffer = io.BytesIO()
    recordio.write_payloads(buffer, [recordio.encode_dense(r) for r in rounded])
    response = server.invoke(buffer.getvalue(), "application/x-recordio-protobuf", "application/json")
    assert response.status_code == 200, response.text
    np.testing.assert_allclose([p["score"] for p in response.json()["predictions"]], expected, rtol=1e-5)


def test_content_type_parameters_are_ignored(binary: tuple[Server, np.ndarray, np.ndarray]) -> None:
    server, rows, _ = binary
    assert server.invoke(csv_body(rows), "text/csv; charset=utf-8").status_code == 200


def test_error_statuses_and_messages(binary: tuple[Server, np.ndarray, np.ndarray]) -> None:
    server, rows, _ = binary
    assert server.invoke(b"").status_code == 204
    response = server.invoke(b'{"instances": []}', "application/json")
    assert (response.status_code, response.text) == (415, "Content type application/json is not supported.")
    assert server.invoke(csv_body(rows), "text/csv", "application/xml").status_code == 406
    response = server.invoke(b"1,2,3")
    assert response.status_code == 400
    assert response.text == (
        "Unable to evaluate payload provided: Feature size of csv inference data 3 is not consistent with "
        "feature size of trained model 6."
    )
    response = server.invoke(b"1,2,3,4,5,6\n1,2,3")
    assert response.status_code == 400
    assert "row 2 has 3 values but row 1 has 6" in response.text
    response = server.invoke(b"1,2,x,4,5,6")
    assert response.status_code == 400
    assert "row 1, column 3: 'x' is not a number" in response.text
    assert server.invoke(b"0 99:1.0", "text/libsvm").status_code == 400
    assert server.session.get(server.url + "/invocations").status_code == 405
    assert server.session.get(server.url + "/nope").status_code == 404


def test_missing_values_and_one_fewer_feature(binary: tuple[Server, np.ndarray, np.ndarray]) -> None:
    server, _, _ = binary
    assert server.invoke(b"1,,3,4,5,6").status_code == 200  # an empty field is a missing value
    assert server.invoke(b"1,2,3,4,5").status_code == 200  # the container tolerates model - 1 features


def test_execution_parameters(binary: tuple[Server, np.ndarray, np.ndarray]) -> None:
    server, _, _ = binary
    body = server.session.get(server.url + "/execution-parameters").json()
    assert body["BatchStrategy"] == "MULTI_RECORD"
    assert body["MaxPayloadInMB"] == 6
    assert body["MaxConcurrentTransforms"] >= 1


def test_multiclass_softprob_vectors(tmp_path: Path) -> None:
    model_dir, features = xgboost_model(tmp_path / "m", "multi:softprob", num_class=3)
    rows = np.asarray([[float(f"{v:.6g}") for v in r] for r in features[:3]])
    expected = _expected(model_dir, rows)
    assert expected.shape == (3, 3)
    with running(model_dir, "xgboost") as server:
        csv_lines = server.invoke(csv_body(rows)).text.strip().split("\n")
        np.testing.assert_allclose(
            [[float(v) for v in line.split(",")] for line in csv_lines], expected, rtol=1e-6
        )
        predictions = server.invoke(csv_body(rows), accept="application/json").json()["predictions"]
        np.testing.assert_allclose([p["score"] for p in predictions], expected, rtol=1e-6)
        # Selectable outputs need their own process (the variable is read at start-up).
    env = {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probability,probabilities,labels,predicted_score"}
    with running(model_dir, "xgboost", env) as server:
        predictions = server.invoke(csv_body(rows), accept="application/json").json()["predictions"]
        for prediction, row in zip(predictions, expected, strict=True):
            assert prediction["predicted_label"] == int(np.argmax(row))
            assert prediction["probability"] == pytest.approx(float(row.max()))
            assert prediction["probabilities"] == pytest.approx(row.tolist())
            assert prediction["labels"] == [0, 1, 2]
            assert math.isnan(
                prediction["predicted_score"]
            )  # not valid for a classifier: NaN, as the container
        csv_lines = server.invoke(csv_body(rows), accept="text/csv").text.strip().split("\n")
        first = csv_lines[0].split(",", 2)
        assert int(first[0]) == int(np.argmax(expected[0]))
        assert float(first[1]) == pytest.approx(float(expected[0].max()))
        lines = server.invoke(csv_body(rows), accept="application/jsonlines").text.splitlines()
        assert [json.loads(line)["predicted_label"] for line in lines] == [
            int(np.argmax(r)) for r in expected
        ]


def test_binary_selectable_outputs(tmp_path: Path) -> None:
    model_dir, features = xgboost_model(tmp_path / "m", "binary:logistic")
    rows = np.asarray([[float(f"{v:.6g}") for v in r] for r in features[:4]])
    expected = _expected(model_dir, rows)
    env = {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probabilities,raw_score"}
    with running(model_dir, "xgboost", env) as server:
        response = server.invoke(csv_body(rows), accept="text/csv")
        assert response.status_code == 200
        for line, p in zip(response.text.strip().split("\n"), expected.tolist(), strict=True):
            label, rest = line.split(",", 1)
            probabilities, raw = rest.rsplit(",", 1)
            assert int(label) == int(p > 0.5)
            assert json.loads(probabilities.strip('"')) == pytest.approx([1 - p, p])
            assert float(raw) == pytest.approx(p)


def test_regression_and_best_iteration(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 4))
    labels = features @ np.asarray([1.0, 2.0, 3.0, 4.0])
    train = xgboost.DMatrix(features[:150], label=labels[:150])
    valid = xgboost.DMatrix(features[150:], label=labels[150:])
    params = {"objective": "reg:squarederror", "eta": 0.9, "max_depth": 2, "nthread": 1}
    booster = xgboost.train(
        params, train, 200, evals=[(valid, "v")], early_stopping_rounds=2, verbose_eval=False
    )
    model_dir = tmp_path / "reg"
    model_dir.mkdir()
    booster.save_model(str(model_dir / "xgboost-model.json"))
    (model_dir / "xgboost-model.json").rename(model_dir / "xgboost-model")
    rows = np.asarray([[float(f"{v:.6g}") for v in r] for r in features[:2]])
    best = booster.inplace_predict(rows, iteration_range=(0, booster.best_iteration + 1))
    assert booster.best_iteration + 1 < booster.num_boosted_rounds()
    assert not np.allclose(best, booster.inplace_predict(rows))  # the test can tell the two apart
    with running(
        model_dir, "xgboost", {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json"}
    ) as server:
        predictions = server.invoke(csv_body(rows)).json()["predictions"]
        np.testing.assert_allclose([p["score"] for p in predictions], best, rtol=1e-4)


def test_ping_is_503_before_the_model_loads_then_200(tmp_path: Path) -> None:
    model_dir, _ = xgboost_model(tmp_path / "m", "binary:logistic")
    server = Server(model_dir, "xgboost")
    try:
        statuses: set[int] = set()
        seconds = server.wait_ready()
        # The server listens before the model is loaded; the first answered pings are 503 (or, on a fast
        # machine, the model is already loaded): either way it is 200 now, and it never answered 500.
        statuses.add(server.session.get(server.url + "/ping").status_code)
        assert statuses == {200}
        assert seconds < 20
    finally:
        code, out, _ = server.stop()
    assert code == 0
    assert "ready" in out
    assert "model server stopped" in out
