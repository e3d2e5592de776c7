"""InvokeEndpoint's lean path: authenticate, look up the routing table, forward, answer; no DB, no parse.

The gateway hands over `POST /endpoints/<name>/invocations` signed for `sagemaker` before its generic
chain; errors are worded as sagemaker-runtime words them (aws-wire-and-sdk.md §5).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

from sagemill.aws.auth import Authenticator, AuthFailure, auth_error
from sagemill.aws.request import AwsRequest
from sagemill.aws.routing import DEFAULT_REGION, credential_scope
from sagemill.aws.streaming import BodyTooLarge, read_buffered_body
from sagemill.metrics.invocations import InvocationRecorder
from sagemill.serving.proxy import ConnectionPool, UpstreamFailed
from sagemill.serving.router import Backend, EndpointRoute, NoBackend, RoutingTable, VariantRoute
from sagemill.serving.shadow import ShadowCopier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # 6291456, the runtime's limit for a real-time request body
# The runtime's 60 s; SAGEMILL_INVOKE_TIMEOUT_SECONDS (read once, at start-up) changes it, e.g. for tests.
MODEL_TIMEOUT_SECONDS = float(os.environ.get("SAGEMILL_INVOKE_TIMEOUT_SECONDS") or 60.0)
_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")
# Request headers the container sees, as SageMaker passes them on.
_FORWARDED = (
    "content-type",
    "accept",
    "x-amzn-sagemaker-custom-attributes",
    "x-amzn-sagemaker-inference-id",
    "x-amzn-sagemaker-target-model",
)
# The sticky key of a request: its session id (not the NEW_SESSION request that opens one), else its
# inference id. During a deployment, requests with one key stay on one fleet (serving/router.py).
_SESSION = "x-amzn-sagemaker-session-id"
_INFERENCE_ID = "x-amzn-sagemaker-inference-id"
_NEW_SESSION = "NEW_SESSION"


# Request ids: UUID-shaped like the runtime's, a random per-process prefix and a counter; unique without
# a getrandom() call and a UUID object per request.
_ID_PREFIX = str(uuid.uuid4())[:24]
_ID_COUNTER = itertools.count(1)


def _request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFF:012x}"


class _Error(Exception):
    def __init__(self, code: str, message: str, status: int, **fields: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.fields = code, message, status, fields


def endpoint_name(path: str) -> str | None:
    match = _PATH.match(path)
    return unquote(match.group(1)) if match else None


class InvokeEndpoint:
    """The data plane as an ASGI app; `matches` tells the gateway which requests are its own."""

    def __init__(
        self,
        table: RoutingTable,
        authenticator: Authenticator,
        recorder: InvocationRecorder,
        *,
        pool: ConnectionPool | None = None,
        timeout: float = MODEL_TIMEOUT_SECONDS,
        max_payload: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.table = table
        self.authenticator = authenticator
        self.recorder = recorder
        self.pool = pool or ConnectionPool()
        self.timeout = timeout
        self.max_payload = max_payload
        self.shadows = ShadowCopier(table, self.pool, recorder, timeout)

    def matches(self, scope: Scope, path: str) -> bool:
        if scope["method"] != "POST" or not path.startswith("/endpoints/") or _PATH.match(path) is None:
            return False
        for name, value in scope["headers"]:
            if name.lower() == b"authorization":
                return b"/sagemaker/aws4_request" in value
        return True  # unsigned: answered here with the runtime's authentication error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = _request_id()
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            headers[raw_name.decode("latin-1").lower()] = raw_value.decode("latin-1")
        path = scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or scope["path"]
        try:
            body = await read_buffered_body(receive, headers, self.max_payload)
        except BodyTooLarge:
            await _send_error(send, self._too_large(), request_id, close=True)
            return
        if body is None:
            return  # the client went away
        request = AwsRequest(
            scope["method"], path, scope.get("query_string", b"").decode("latin-1"), headers, body
        )
        scope_parts = credential_scope(request)
        region = scope_parts[0] if scope_parts else DEFAULT_REGION
        try:
            principal = self.authenticator.authenticate(request, "sagemaker", region)
        except AuthFailure as failure:
            denied = auth_error(failure, "rest-json", "sagemaker-runtime")
            await _send_error(send, _Error(denied.code, denied.message, denied.status), request_id)
            return
        name = endpoint_name(path) or ""
        route = self.table.get(principal.account_id, region, name)
        if route is None:
            await _send_error(
                send,
                _Error(
                    "ValidationError", f"Endpoint {name} of account {principal.account_id} not found.", 400
                ),
                request_id,
            )
            return
        try:
            await self._forward(route, headers, body, started, request_id, send)
        except _Error as error:
            await _send_error(send, error, request_id)

    def _too_large(self) -> _Error:
        return _Error("ValidationError", f"HTTP content length exceeded {self.max_payload} bytes.", 413)

    def _variant(self, route: EndpointRoute, target: str, sticky_key: str = "") -> VariantRoute:
        if target:
            pair = route.split.get(target) if route.split else None
            if pair is not None:  # the variant a deployment is shifting: one of its two fleets
                return self.table.pick_fleet(pair, sticky_key)
            variant = route.variant(target)
            if variant is None:
                raise _Error(
                    "ValidationError",
                    f"The variant {target} of endpoint {route.endpoint.name} of account "
                    f"{route.endpoint.account_id} is not found.",
                    400,
                )
            return variant
        try:
            return self.table.pick_variant(route, sticky_key)
        except NoBackend as exc:
            raise _Error("ServiceUnavailable", str(exc), 503) from exc

    async def _forward(
        self,
        route: EndpointRoute,
        headers: dict[str, str],
        body: bytes,
        started: float,
        request_id: str,
        send: Send,
    ) -> None:
        session = headers.get(_SESSION, "")
        sticky = session if session and session != _NEW_SESSION else headers.get(_INFERENCE_ID, "")
        variant = self._variant(route, headers.get("x-amzn-sagemaker-target-variant", ""), sticky)
        forwarded = [(n, headers[n]) for n in _FORWARDED if n in headers]
        if route.shadows:
            self.shadows.copy(route, forwarded, body)
        tried: Backend | None = None
        for _attempt in range(2):
            try:
                backend = self.table.pick_backend(variant, avoid=tried)
            except NoBackend as exc:
                raise _Error("ServiceUnavailable", str(exc), 503) from exc
            tried = backend
            self.table.acquire(backend)
            sent_at = time.perf_counter()
            try:
                reply = await self.pool.post(
                    backend.host, backend.port, "/invocations", forwarded, body, self.timeout
                )
            except UpstreamFailed as exc:
                if not exc.sent and len(variant.backends) > 1:
                    continue  # never reached the model (an instance being replaced): try another
                self._record(route, variant, sent_at, started, 500)
                raise _Error(
                    "InternalFailure",
                    f"The instance {backend.instance_id} of variant {variant.name} stopped before answering "
                    "(it is being replaced); retry the request.",
                    500,
                ) from exc
            except TimeoutError as exc:
                self._record(route, variant, sent_at, started, 504)  # no answer: a 5xx and a model error
                raise self._model_error(route, 0, _timeout_message()) from exc
            finally:
                self.table.release(backend)
            break
        else:
            raise _Error(
                "ServiceUnavailable", f"No instance of variant {variant.name} could be reached.", 503
            )
        status = reply.status
        self._record(route, variant, sent_at, started, status)  # the model's own: 4XX/5XX as it answered
        if not 200 <= status < 300:
            raise self._model_error(route, status, reply.body.decode("utf-8", "replace"))
        out = [
            (
                b"content-type",
                reply.headers.get("content-type", "application/octet-stream").encode("latin-1"),
            ),
            (b"x-amzn-invoked-production-variant", variant.name.encode("latin-1")),
            (b"x-amzn-requestid", request_id.encode()),
            (b"content-length", str(len(reply.body)).encode()),
        ]
        attributes = reply.headers.get("x-amzn-sagemaker-custom-attributes")
        if attributes is not None:
            out.append((b"x-amzn-sagemaker-custom-attributes", attributes.encode("latin-1")))
        await send({"type": "http.response.start", "status": 200, "headers": out})
        await send({"type": "http.response.body", "body": reply.body})

    def _record(
        self, route: EndpointRoute, variant: VariantRoute, sent_at: float, started: float, status: int
    ) -> None:
        done = time.perf_counter()
        model_us = int((done - sent_at) * 1e6)
        overhead_us = int((done - started) * 1e6) - model_us
        self.recorder.record_invocation(
            route.endpoint,
            variant.name,
            variant.config_name or route.config_name,
            model_us,
            overhead_us,
            status,
            model_error=not 200 <= status < 300,  # only model exchanges are recorded
            instances=len(variant.backends),
        )

    @staticmethod
    def _model_error(route: EndpointRoute, status: int, original: str) -> _Error:
        ref = route.endpoint
        kind = "client" if 400 <= status < 500 else "server"
        group = f"/aws/sagemaker/Endpoints/{ref.name}"
        message = (
            f'Received {kind} error ({status}) from primary with message "{original}". See '
            f"https://{ref.region}.console.aws.amazon.com/cloudwatch/home?region={ref.region}"
            f"#logEventViewer:group={group} in account {ref.account_id} for more information."
        )
        return _Error(
            "ModelError",
            message,
            424,
            OriginalStatusCode=status,
            OriginalMessage=original,
            LogStreamArn=f"arn:aws:logs:{ref.region}:{ref.account_id}:log-group:{group}",
        )


def _timeout_message() -> str:
    return (
        "Your invocation timed out while waiting for a response from container primary. Review the latency "
        "metrics for each container in Amazon CloudWatch, resolve the issue, and try again."
    )


async def _send_error(send: Send, error: _Error, request_id: str, *, close: bool = False) -> None:
    payload = json.dumps({"__type": error.code, "Message": error.message, **error.fields}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"x-amzn-errortype", error.code.encode()),
        (b"x-amzn-requestid", request_id.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))  # the rest of an oversized body is never read
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
