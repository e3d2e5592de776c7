"""Script mode (the inference toolkit handler contract), start-up failures and graceful SIGTERM."""

from __future__ import annotations

import io
import json
import pickle
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from test_model_server_support import Server, csv_body, run_to_exit, running

FOUR_HANDLERS = """
import json, os, pickle
import numpy as np

def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.pkl"), "rb") as f:
        return pickle.load(f)

def input_fn(body, content_type):
    if content_type != "application/json":
        raise ValueError(f"unsupported content type {content_type}")
    return np.asarray(json.loads(body)["rows"], dtype=float)

def predict_fn(data, model):
    if data.shape[1] != 2:
        raise ValueError(f"expected 2 features, got {data.shape[1]}")
    return model.predict(data)

def output_fn(prediction, accept):
    return json.dumps({"labels": prediction.tolist(), "accept": accept}), "application/vnd+custom"
"""

TRANSFORM = """
def model_fn(model_dir, context):
    return {"offset": 10, "dir": context.system_properties["model_dir"]}

def transform_fn(model, body, content_type, accept):
    return str(sum(int(x) for x in body.decode().split(",")) + model["offset"]).encode(), "text/plain"
"""

DEFAULTS_ONLY = """
import os, pickle

def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.pkl"), "rb") as f:
        return pickle.load(f)
"""


def _sklearn_model_dir(root: Path, script: str, name: str = "inference.py") -> Path:
    from sklearn.linear_model import LogisticRegression

    features = np.asarray([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
    labels = (features[:, 0] > 0.5).astype(int)
    root.mkdir(parents=True)
    (root / "model.pkl").write_bytes(pickle.dumps(LogisticRegression().fit(features, labels)))
    (root / "code").mkdir()
    (root / "code" / name).write_text(script)
    (root / "code" / "requirements.txt").write_text("not-installed-here==0\n")
    return root


def test_four_handlers_and_user_exception(tmp_path: Path) -> None:
    model_dir = _sklearn_model_dir(tmp_path / "m", FOUR_HANDLERS)
    with running(model_dir, "sklearn") as server:
        body = json.dumps({"rows": [[1, 0], [0, 1]]}).encode()
        response = server.invoke(body, "application/json", "application/json")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/vnd+custom"
        assert response.json() == {"labels": [1, 0], "accept": "application/json"}
        # Missing Accept → SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT's default, application/json.
        assert server.invoke(body, "application/json").json()["accept"] == "application/json"
        response = server.invoke(json.dumps({"rows": [[1, 0, 3]]}).encode(), "application/json")
        assert response.status_code == 500
        assert response.text == "ValueError: expected 2 features, got 3"
        response = server.invoke(b"1,0", "text/csv")
        assert (response.status_code, response.text) == (500, "ValueError: unsupported content type text/csv")
        assert server.session.get(server.url + "/ping").status_code == 200  # still healthy
        assert server.session.get(server.url + "/execution-parameters").status_code == 404
        code, out, _ = server.stop()
    assert code == 0
    failures = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert len(failures) == 2  # one line per failed request, none for successes
    assert "ValueError: expected 2 features, got 3" in failures[0]
    assert "inference.py" in failures[0]


def test_transform_fn_with_context_and_named_program(tmp_path: Path) -> None:
    model_dir = _sklearn_model_dir(tmp_path / "m", TRANSFORM, name="serve.py")
    with running(model_dir, "script", {"SAGEMAKER_PROGRAM": "serve.py"}) as server:
        response = server.invoke(b"1,2,3", "text/csv", "text/plain")
        assert (response.status_code, response.text) == (200, "16")
        assert response.headers["Content-Type"] == "text/plain"


def test_submit_directory_outside_the_model(tmp_path: Path) -> None:
    model_dir = _sklearn_model_dir(tmp_path / "m", "raise RuntimeError('the wrong module was imported')\n")
    elsewhere = tmp_path / "src"
    elsewhere.mkdir()
    (elsewhere / "entry.py").write_text(TRANSFORM)
    env = {"SAGEMAKER_PROGRAM": "entry.py", "SAGEMAKER_SUBMIT_DIRECTORY": str(elsewhere)}
    with running(model_dir, "sklearn", env) as server:
        assert server.invoke(b"5", "text/csv").text == "15"


def test_sklearn_defaults_for_input_predict_output(tmp_path: Path) -> None:
    model_dir = _sklearn_model_dir(tmp_path / "m", DEFAULTS_ONLY)
    rows = np.asarray([[1.0, 0.0], [0.0, 1.0]])
    with running(model_dir, "sklearn") as server:
        assert server.invoke(b"[[1, 0], [0, 1]]", "application/json").json() == [1, 0]
        assert server.invoke(csv_body(rows), "text/csv", "text/csv").text.split() == ["1", "0"]
        buffer = io.BytesIO()
        np.save(buffer, rows)
        response = server.invoke(buffer.getvalue(), "application/x-npy", "application/x-npy")
        assert np.load(io.BytesIO(response.content)).tolist() == [1, 0]
        assert server.invoke(b"x", "application/x-parquet").status_code == 415
        assert server.invoke(b"[[1, 0]]", "application/json", "application/xml").status_code == 406


def test_mixing_transform_fn_with_other_handlers_fails_start_up(tmp_path: Path) -> None:
    model_dir = _sklearn_model_dir(
        tmp_path / "m", TRANSFORM + "\ndef input_fn(body, content_type):\n    return body\n"
    )
    code, _, err = run_to_exit(model_dir, "sklearn")
    assert code == 1
    assert "Cannot use transform_fn implementation in conjunction with input_fn" in err


def test_sklearn_without_model_fn_fails_start_up(tmp_path: Path) -> None:
    model_dir = _sklearn_model_dir(tmp_path / "m", "def predict_fn(data, model):\n    return data\n")
    code, _, err = run_to_exit(model_dir, "sklearn")
    assert code == 1
    assert "Failed to load the model: ValueError: Please provide a model_fn implementation" in err


def test_corrupt_xgboost_model_fails_start_up(tmp_path: Path) -> None:
    (tmp_path / "xgboost-model").write_bytes(b"not a model")
    code, _, err = run_to_exit(tmp_path, "xgboost")
    assert code == 1
    assert "Failed to load the model: ValueError: xgboost-model is not an XGBoost model" in err
    (tmp_path / "xgboost-model").write_bytes(pickle.dumps({"a": 1}))
    code, _, err = run_to_exit(tmp_path, "xgboost")
    assert code == 1
    assert "is a pickled model" in err


SLOW = """
import time

def model_fn(model_dir):
    time.sleep(1.5)
    return None

def transform_fn(model, body, content_type, accept):
    time.sleep(float(body))
    return b"done", "text/plain"
"""


def test_ping_503_while_loading_and_graceful_sigterm(tmp_path: Path) -> None:
    model_dir = _sklearn_model_dir(tmp_path / "m", SLOW)
    server = Server(model_dir, "script")
    statuses = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            statuses.append(server.session.get(server.url + "/ping", timeout=2).status_code)
        except requests.ConnectionError:
            time.sleep(0.02)
            continue
        if statuses[-1] == 200:
            break
        time.sleep(0.05)
    assert statuses[0] == 503 and statuses[-1] == 200
    result: dict[str, requests.Response] = {}
    worker = threading.Thread(target=lambda: result.update(r=server.invoke(b"1.0", "text/plain")))
    worker.start()
    time.sleep(0.4)  # the request is in flight
    server.process.send_signal(15)
    worker.join(timeout=20)
    out, err = server.process.communicate(timeout=20)
    assert result["r"].status_code == 200 and result["r"].text == "done"
    assert server.process.returncode == 0, err
    assert "received SIGTERM" in out and "model server stopped" in out


def test_model_server_timeout(tmp_path: Path) -> None:
    model_dir = _sklearn_model_dir(tmp_path / "m", SLOW.replace("time.sleep(1.5)", "pass"))
    with running(model_dir, "script", {"SAGEMAKER_MODEL_SERVER_TIMEOUT": "0.3"}) as server:
        response = server.invoke(b"1.0", "text/plain")
        assert response.status_code == 504
        assert "timed out after 0.3 s" in response.text


@pytest.mark.parametrize("kind", ["xgboost", "sklearn"])
def test_missing_model_dir_fails(tmp_path: Path, kind: str) -> None:
    code, _, err = run_to_exit(tmp_path / "absent", kind)
    assert code == 1
    assert "does not exist" in err


def test_prepare_model_dir_extracts_and_refuses_unsafe_archives(tmp_path: Path) -> None:
    import tarfile

    from sagemill.executors.archives import UnsafeArchive
    from sagemill.serving.model_server import prepare_model_dir

    good = tmp_path / "model.tar.gz"
    with tarfile.open(good, "w:gz") as tar:
        info = tarfile.TarInfo("code/inference.py")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"x=1\n"))
    assert prepare_model_dir(good, tmp_path / "ok") == ["code/inference.py"]
    assert (tmp_path / "ok" / "code" / "inference.py").read_text() == "x=1\n"
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.py")
        info.size = 0
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(UnsafeArchive):
        prepare_model_dir(bad, tmp_path / "refused")
    assert not (tmp_path / "escape.py").exists()
    assert list((tmp_path / "refused").iterdir()) == []
