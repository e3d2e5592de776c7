"""loader: the handler factory for a --kind (XGBoost turns to script mode when SAGEMAKER_PROGRAM is set)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sagemill.serving.model_server.handler import Handler


def loader(kind: str, model_dir: Path) -> Callable[[], Handler]:
    def load() -> Handler:
        if kind == "xgboost" and os.environ.get("SAGEMAKER_PROGRAM"):
            # As the XGBoost container: script mode when a program is named, algorithm mode otherwise.
            from sagemill.serving.model_server.script_model import ScriptHandler

            return ScriptHandler(model_dir, "xgboost")
        if kind == "xgboost":
            from sagemill.serving.model_server.xgboost_model import XGBoostHandler

            return XGBoostHandler(model_dir)
        if kind in ("kmeans", "linear-learner"):
            from sagemill.serving.model_server.amazon_model import AmazonHandler

            return AmazonHandler(model_dir, kind)
        from sagemill.serving.model_server.script_model import ScriptHandler

        return ScriptHandler(model_dir, kind)

    return load
