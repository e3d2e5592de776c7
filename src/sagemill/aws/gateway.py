"""The ASGI front door: route → authenticate → parse → validate → dispatch → serialize, on one port."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from email.utils import formatdate
from functools import cache
from typing import Any, Protocol

import anyio
import anyio.to_thread
from botocore.model import OperationModel

from sagemill.aws.auth import Authenticator, AuthFailure, auth_error
from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Dispatcher
from sagemill.aws.errors import InternalFailure, ServiceError, not_implemented
from sagemill.aws.protocol import WireProtocol, protocol_for
from sagemill.aws.request import AwsRequest, AwsResponse
from sagemill.aws.routing import Route, credential_scope, route, virtual_host_path
from sagemill.aws.specs import service_model
from sagemill.aws.streaming import (
    BodyTooLarge,
    ReceiveReader,
    read_bounded,
    read_buffered_body,
    send_response,
    verifying,
)
from sagemill.aws.validation import validate

log = logging.getLogger("sagemill.gateway")
access_log = logging.getLogger("sagemill.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RequestObserver = Callable[[str, str, int, float], None]
"""Told (service, operation, HTTP status, seconds) of every request the generic chain answers."""


class FastPath(Protocol):
    """A request handled outside the generic chain (InvokeEndpoint's data plane)."""

    def matches(self, scope: Scope, path: str) -> bool: ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


@cache
def _protocol(name: str) -> WireProtocol:
    return protocol_for(name)


class Gateway:
    """Answers every AWS request on one port; other paths go to `extensions` (health, Sagemill's own API)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        authenticator: Authenticator,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        extensions: ASGIApp | None = None,
        on_startup: Callable[[], Awaitable[None]] | None = None,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        s3_virtual_host_suffixes: tuple[str, ...] = (),
        fast_path: FastPath | None = None,
        metrics: ASGIApp | None = None,
        on_request: RequestObserver | None = None,
    ) -> None:
        self.fast_path = fast_path
        self.metrics = metrics
        self.on_request = on_request
        self.dispatcher = dispatcher
        self.s3_virtual_host_suffixes = s3_virtual_host_suffixes
        self.authenticator = authenticator
        self.max_body_bytes = max_body_bytes
        self.extensions = extensions
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or scope["path"]
        if self.fast_path is not None and self.fast_path.matches(scope, path):
            await self.fast_path(scope, receive, send)
            return
        if path.startswith("/_sagemill/") and self.extensions is not None:
            await self.extensions(scope, receive, _with_request_id(send))
            return
        if path == "/metrics" and self.metrics is not None and not _aws_signed(scope):
            await self.metrics(scope, receive, _with_request_id(send))
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        request_head = AwsRequest(
            method=scope["method"],
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=b"",
        )
        path_style = virtual_host_path(request_head, self.s3_virtual_host_suffixes)
        if path_style is not None:
            # Routed and matched path-style; the signature still covers the path as it was sent.
            request_head = replace(request_head, path=path_style, context={"signed_path": path})
            path = path_style
        if _streams_request(request_head):
            reader = ReceiveReader(receive)
            async with anyio.create_task_group() as pumping:
                reader.pump_in(pumping)
                response = await anyio.to_thread.run_sync(self.handle, replace(request_head, stream=reader))
                pumping.cancel_scope.cancel()
            if not reader.complete and request_head.header("content-length") != "0":
                # Answered before the body was read (a refusal): a client that sent `Expect:
                # 100-continue` never sends it, one that did would have us drain it. Either way the
                # connection cannot carry another request.
                response.headers["Connection"] = "close"
            await send_response(send, response, request_head.method)
            return
        try:
            body = await read_buffered_body(receive, headers, self.max_body_bytes)
        except BodyTooLarge:
            response = self.too_large(request_head)
        except OSError:
            return
        else:
            if body is None:
                return  # the client went away mid-body; nobody is left to answer
            request = request_head.with_body(body)
            response = await anyio.to_thread.run_sync(self.handle, request)
        await send_response(send, response, request_head.method)

    def too_large(self, request: AwsRequest) -> AwsResponse:
        error = ServiceError(
            "RequestEntityTooLarge",
            f"Request body exceeds the limit of {self.max_body_bytes} bytes.",
            413,
        )
        request_id = str(uuid.uuid4())
        try:
            found = route(request)
        except ServiceError:
            response = fallback_error(request, error, request_id)
        else:
            response = self._error(found, None, error, request_id)
        # The rest of the body is never read: close rather than drain a stream of unbounded length.
        response.headers["Connection"] = "close"
        return _finish(response, request_id, time.perf_counter())

    def handle(self, request: AwsRequest) -> AwsResponse:
        """Answer one buffered request; never raises."""
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        found: Route | None = None
        operation: OperationModel | None = None
        try:
            found = route(request)
            protocol = _protocol(found.protocol)
            principal = self.authenticator.authenticate(
                request, found.signing_name or found.service, found.region
            )
            operation = protocol.match_operation(request, service_model(found.service))
            if request.stream is not None:
                request = self._prepare_stream(request, operation)
            params = protocol.parse(request, operation)
            validate(operation.input_shape, params, found.service)
            handler = self.dispatcher.lookup(found.service, operation.name)
            if handler is None:
                raise not_implemented(operation.name)
            context = RequestContext(request_id, found.service, operation.name, found.region, principal)
            result = handler(context, params)
            response = protocol.serialize(result, operation, request_id)
        except AuthFailure as failure:
            assert found is not None
            response = self._error(
                found, operation, auth_error(failure, found.protocol, found.service), request_id
            )
        except ServiceError as error:
            if found is None:
                response = fallback_error(request, error, request_id)
            else:
                response = self._error(found, operation, error, request_id)
        except Exception:
            log.exception("unhandled error in %s", operation.name if operation else request.path[:64])
            if found is None:
                response = fallback_error(request, InternalFailure(), request_id)
            else:
                response = self._error(found, operation, InternalFailure(), request_id)
        _log_access(request, found, operation, response, started)
        if self.on_request is not None:
            self.on_request(
                found.service if found else "unknown",
                operation.name if operation else "unknown",
                response.status,
                time.perf_counter() - started,
            )
        return _finish(response, request_id, started)

    def _prepare_stream(self, request: AwsRequest, operation: OperationModel) -> AwsRequest:
        """Keep streaming only a body the operation streams; buffer any other (within the limit)."""
        assert request.stream is not None
        if operation.has_streaming_input:
            claimed = request.header("x-amz-content-sha256")
            declared = request.header("content-length")
            length = int(declared) if declared.isdigit() else None
            return replace(request, stream=verifying(request.stream, claimed, length))
        body = read_bounded(request.stream, self.max_body_bytes)
        if body is None:
            raise ServiceError(
                "RequestEntityTooLarge",
                f"Request body exceeds the limit of {self.max_body_bytes} bytes.",
                413,
            )
        return request.with_body(body)

    def _error(
        self, found: Route, operation: OperationModel | None, error: ServiceError, request_id: str
    ) -> AwsResponse:
        try:
            return _protocol(found.protocol).serialize_error(
                error, service_model(found.service), operation, request_id
            )
        except Exception:
            log.exception("could not serialize an error for %s", found.service)
            return _json_error(error, request_id)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self.on_startup is not None:
                        await self.on_startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown is not None:
                    await self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _streams_request(request: AwsRequest) -> bool:
    """S3 uploads (PUT) stream their bodies; everything else is buffered under the body limit."""
    if request.method != "PUT":
        return False
    scope = credential_scope(request)
    return scope is not None and scope[1] == "s3"


def fallback_error(request: AwsRequest, error: ServiceError, request_id: str) -> AwsResponse:
    """An error for a request whose service is unknown: query-shaped XML for form posts, else JSON."""
    if "application/x-www-form-urlencoded" in request.header("content-type").lower():
        fault = "Sender" if error.sender_fault else "Receiver"
        body = (
            "<ErrorResponse><Error>"
            f"<Type>{fault}</Type><Code>{_xml_escape(error.code)}</Code>"
            f"<Message>{_xml_escape(error.message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return AwsResponse(error.status, {"Content-Type": "text/xml"}, body.encode())
    return _json_error(error, request_id)


def _json_error(error: ServiceError, request_id: str) -> AwsResponse:
    body = json.dumps({"__type": error.code, "message": error.message}).encode()
    return AwsResponse(
        error.status,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": error.code},
        body,
    )


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _finish(response: AwsResponse, request_id: str, started: float) -> AwsResponse:
    headers = response.headers
    headers.setdefault("x-amzn-RequestId", request_id)
    headers["Date"] = formatdate(usegmt=True)
    headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.3f}"
    return response


def _log_access(
    request: AwsRequest,
    found: Route | None,
    operation: OperationModel | None,
    response: AwsResponse,
    started: float,
) -> None:
    if access_log.isEnabledFor(logging.INFO):
        access_log.info(
            "%s %s %s %d %.2fms",
            found.service if found else "-",
            operation.name if operation else request.method,
            found.region if found else "-",
            response.status,
            (time.perf_counter() - started) * 1000,
        )


def _aws_signed(scope: Scope) -> bool:
    """A SigV4 (or SigV2) signed request: `GET /metrics` signed is S3's ListObjects, not a scrape."""
    for name, value in scope["headers"]:
        if name.lower() == b"authorization" and value[:4] in (b"AWS4", b"AWS "):
            return True
    query = scope.get("query_string", b"").lower()
    return b"x-amz-credential=" in query or b"awsaccesskeyid=" in query  # presigned URLs


def _with_request_id(send: Send) -> Send:
    """`send` for an extension: its answer carries an `x-amzn-RequestId` like every other on the port."""
    request_id = str(uuid.uuid4()).encode()

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == b"x-amzn-requestid" for name, _ in headers):
                headers.append((b"x-amzn-RequestId", request_id))
            message = {**message, "headers": headers}
        await send(message)

    return send_with_id
