"""A no-op Starlette route answering `{}` as AWS JSON 1.1: the control-plane bench's baseline."""

from __future__ import annotations

import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def noop(request: Request) -> Response:
    await request.body()
    return Response(
        b"{}",
        media_type="application/x-amz-json-1.1",
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[Route("/_sagemill/health", health), Route("/", noop, methods=["POST"])])
