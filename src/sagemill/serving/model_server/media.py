"""Media types: normalising Content-Type and negotiating Accept against what a handler can write."""

from __future__ import annotations

import os

from sagemill.serving.model_server.errors import not_acceptable

CSV = "text/csv"
LIBSVM = "text/libsvm"
X_LIBSVM = "text/x-libsvm"
JSON = "application/json"
JSONLINES = "application/jsonlines"
JSONLINES_ALIASES = ("application/jsonlines", "application/x-jsonlines", "application/jsonl")
RECORDIO = "application/x-recordio-protobuf"
NPY = "application/x-npy"
NPZ = "application/x-npz"


def essence(content_type: str) -> str:
    """`Text/CSV; charset=utf-8` → `text/csv` (parameters such as label_size do not change the format)."""
    return content_type.split(";", 1)[0].strip().lower()


def default_accept(fallback: str) -> str:
    return essence(os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or fallback)


def negotiate(accept: str, supported: tuple[str, ...], default: str) -> str:
    """The first supported type the Accept header lists; missing or `*/*` → the default; none → 406.

    SageMaker clients send one type, so q-values are not ranked: the list order is the preference.
    """
    if not accept:
        return default
    for part in accept.split(","):
        wanted = essence(part)
        if wanted in ("*/*", ""):
            return default
        if wanted in JSONLINES_ALIASES and JSONLINES in supported:
            return JSONLINES
        if wanted in supported:
            return wanted
    raise not_acceptable(accept)
