"""Script mode: the inference toolkit handler contract (model_fn, input/predict/output_fn, transform_fn).

The user module is `SAGEMAKER_PROGRAM` (default `inference.py`) in `SAGEMAKER_SUBMIT_DIRECTORY` when that
is a local directory, else in `<model-dir>/code` (where the SDK repacks `source_dir` into model.tar.gz;
its `SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code` points there too). `code/requirements.txt` is not
installed here: the platform installs it into the endpoint's environment before starting this process.
Defaults follow the framework containers: sklearn and plain `script` require model_fn; pytorch loads a
TorchScript `model.pt`; xgboost (script mode) requires model_fn and decodes CSV/libsvm into a DMatrix.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import io
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from sagemill.serving.model_server import decoders
from sagemill.serving.model_server.errors import InferenceError, not_acceptable, unsupported_media_type
from sagemill.serving.model_server.media import CSV, JSON, LIBSVM, NPY, X_LIBSVM, essence, negotiate

DEFAULT_PROGRAM = "inference.py"
HANDLER_NAMES = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")
ENCODABLE = (JSON, CSV, NPY)


@dataclass
class Context:
    """Passed to handlers that take an extra `context` argument, as the toolkit's Context (a subset)."""

    model_dir: str
    system_properties: dict[str, Any] = field(default_factory=dict)


class ScriptHandler:
    inline = False

    def __init__(self, model_dir: Path, flavour: str) -> None:
        self.model_dir = model_dir
        self.flavour = flavour
        self.context = Context(str(model_dir), {"model_dir": str(model_dir), "gpu_id": None})
        self.module, self.program = _user_module(model_dir)
        user = {name: getattr(self.module, name, None) for name in HANDLER_NAMES} if self.module else {}
        transform = user.get("transform_fn")
        if transform and any(user.get(n) for n in ("input_fn", "predict_fn", "output_fn")):
            raise ValueError(
                "Cannot use transform_fn implementation in conjunction with input_fn, predict_fn, "
                "and/or output_fn implementation"
            )
        self.transform_fn = self._bind(transform)
        self.input_fn = self._bind(user.get("input_fn")) or self._default_input
        self.predict_fn = self._bind(user.get("predict_fn")) or self._default_predict
        self.output_fn = self._bind(user.get("output_fn"))
        self.default_accept = essence(os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or JSON)
        model_fn = self._bind(user.get("model_fn")) or self._default_model_fn
        self.model = model_fn(str(model_dir))

    def describe(self) -> str:
        return f"{self.flavour} script mode, program {self.program or '(none: framework defaults)'}"

    def execution_parameters(self) -> dict[str, Any] | None:
        function = getattr(self.module, "execution_parameters_fn", None)
        if function is None:
            return None
        result = function()
        return dict(json.loads(result) if isinstance(result, str | bytes) else result)

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        accept = self.default_accept if not accept or essence(accept) == "*/*" else accept
        if self.transform_fn:
            return _response(self.transform_fn(self.model, body, content_type, accept), accept)
        data = self.input_fn(body, content_type)
        prediction = self.predict_fn(data, self.model)
        if self.output_fn:
            return _response(self.output_fn(prediction, accept), accept)
        chosen = negotiate(accept, ENCODABLE, self.default_accept)
        return _encode(prediction, chosen), chosen

    def _bind(self, function: Callable[..., Any] | None) -> Callable[..., Any] | None:
        """Handlers may take an extra trailing `context` argument (the toolkit passes it when they do)."""
        if function is None:
            return None
        try:
            parameters = list(inspect.signature(function).parameters.values())
        except (TypeError, ValueError):
            return function
        if parameters and parameters[-1].name == "context":
            context = self.context
            return lambda *args: function(*args, context)
        return function

    def _default_model_fn(self, model_dir: str) -> Any:
        if self.flavour == "pytorch":
            return _torchscript(Path(model_dir))
        where = f" ({self.program})" if self.program else f" (no {_program_name()} found)"
        raise ValueError(
            f"Please provide a model_fn implementation{where}: the {self.flavour} container has no default "
            "model_fn. See https://sagemaker.readthedocs.io/en/stable/frameworks/sklearn/using_sklearn.html"
        )

    def _default_input(self, body: bytes, content_type: str) -> Any:
        kind = essence(content_type)
        if self.flavour == "xgboost":
            return _dmatrix(body, kind, content_type)
        if kind == JSON:
            try:
                array: Any = np.asarray(json.loads(body))
            except ValueError as error:
                raise InferenceError(400, f"Loading json data failed: {error}") from None
        elif kind == CSV:
            array = decoders.csv_rows(body)
        elif kind == NPY:
            try:
                array = np.load(io.BytesIO(body), allow_pickle=False)
            except ValueError as error:
                raise InferenceError(400, f"Loading npy data failed: {error}") from None
        else:
            raise InferenceError(415, f"Content type {content_type} is not supported by this framework.")
        if self.flavour == "pytorch":
            return importlib.import_module("torch").as_tensor(array)
        return array

    def _default_predict(self, data: Any, model: Any) -> Any:
        if self.flavour == "pytorch":
            torch = importlib.import_module("torch")
            model.eval()
            with torch.no_grad():
                return model(data)
        if self.flavour == "xgboost":
            return model.predict(data, validate_features=False)
        return model.predict(data)


def _program_name() -> str:
    return os.environ.get("SAGEMAKER_PROGRAM") or DEFAULT_PROGRAM


def _user_module(model_dir: Path) -> tuple[ModuleType | None, str | None]:
    program = _program_name()
    candidates = []
    submit = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if submit and "://" not in submit and Path(submit).is_dir():
        candidates.append(Path(submit))
    candidates += [model_dir / "code", model_dir]
    for directory in candidates:
        path = directory / program
        if path.is_file():
            # The code directory goes first on sys.path so the module's sibling imports resolve.
            sys.path.insert(0, str(directory))
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
            return module, str(path)
    if os.environ.get("SAGEMAKER_PROGRAM"):
        raise FileNotFoundError(
            f"SAGEMAKER_PROGRAM {program} not found in {', '.join(str(c) for c in candidates)}"
        )
    return None, None


def _response(result: Any, accept: str) -> tuple[bytes, str]:
    """output_fn/transform_fn may return the body, or (body, content_type)."""
    content_type = accept
    if isinstance(result, tuple) and len(result) == 2:
        result, content_type = result
    if isinstance(result, bytes | bytearray | memoryview):
        return bytes(result), str(content_type)
    if isinstance(result, str):
        return result.encode(), str(content_type)
    return json.dumps(_plain(result)).encode(), str(content_type)


def _plain(value: Any) -> Any:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return value


def _encode(prediction: Any, accept: str) -> bytes:
    if accept == JSON:
        return json.dumps(_plain(prediction)).encode()
    array = np.asarray(_plain(prediction))
    if accept == NPY:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    if accept == CSV:
        buffer_text = io.StringIO()
        np.savetxt(buffer_text, array if array.ndim else array.reshape(1), delimiter=",", fmt="%s")
        return buffer_text.getvalue().encode()
    raise not_acceptable(accept)


def _dmatrix(body: bytes, kind: str, content_type: str) -> Any:
    import xgboost

    if kind == CSV:
        return xgboost.DMatrix(decoders.csv_rows(body))
    if kind in (LIBSVM, X_LIBSVM):
        sparse = importlib.import_module("scipy.sparse")
        data, indices, indptr, width = decoders.libsvm_rows(body)
        return xgboost.DMatrix(sparse.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, width)))
    raise unsupported_media_type(content_type)


def _torchscript(model_dir: Path) -> Any:
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        raise ValueError("PyTorch is not installed here; provide model_fn in your inference script") from None
    path = model_dir / "model.pt"
    if not path.is_file():
        found = sorted([*model_dir.glob("*.pt"), *model_dir.glob("*.pth")])
        if len(found) != 1:
            raise FileNotFoundError("Failed to load model with default model_fn: missing file model.pt")
        path = found[0]
    return torch.jit.load(str(path), map_location="cpu")
