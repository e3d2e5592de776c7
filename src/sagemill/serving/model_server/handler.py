"""Handler: what the app asks of a loaded model (one per --kind), and the execution parameters it reports."""

from __future__ import annotations

import os
from typing import Any, Protocol


class Handler(Protocol):
    #: True: invoke() is fast and bounded (built-in algorithms), so it runs on the event loop with no thread
    #: hop; False: user code, run on a worker thread under SAGEMAKER_MODEL_SERVER_TIMEOUT.
    inline: bool

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        """The response body and its content type; raises InferenceError for a 4xx/5xx answer."""
        ...

    def execution_parameters(self) -> dict[str, Any] | None:
        """GET /execution-parameters, or None for 404."""
        ...


def max_payload_mb() -> int:
    return int(os.environ.get("SAGEMAKER_MAX_PAYLOAD_IN_MB") or 6)


def builtin_execution_parameters() -> dict[str, Any]:
    """As the XGBoost container answers batch transform's probe."""
    return {
        "MaxConcurrentTransforms": os.cpu_count() or 1,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": max_payload_mb(),
    }
