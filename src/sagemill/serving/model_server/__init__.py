"""The model server: one process per endpoint instance answering SageMaker's /ping and /invocations.

Run it as `python -m sagemill.serving.model_server --model-dir DIR --port PORT --kind KIND` (see
__main__.py for the whole CLI and environment contract). This package imports nothing heavy at import
time, so the CLI can pin thread counts before numpy and xgboost load.
"""

from sagemill.serving.model_server.model_dir import prepare_model_dir

__all__ = ["prepare_model_dir"]
