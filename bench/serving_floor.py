"""The HTTP floor for bench/serving.py: a raw ASGI app that parses CSV and calls `inplace_predict`."""

from __future__ import annotations

import io
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import numpy as np
import xgboost as xgb

_booster = xgb.Booster(model_file=os.environ["FLOOR_MODEL"])
_booster.set_param({"nthread": 1})
_HEADERS = [(b"content-type", b"text/csv")]


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    if scope["path"] == "/ping":
        payload = b""
    else:
        rows = np.loadtxt(io.BytesIO(body), delimiter=",", ndmin=2, dtype=np.float32)
        scores = _booster.inplace_predict(rows)
        payload = "\n".join(f"{v:.6g}" for v in scores.tolist()).encode()
    headers = [*_HEADERS, (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
