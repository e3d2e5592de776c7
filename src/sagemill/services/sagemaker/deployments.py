"""Sagemill's deployment extension: see, promote, abort, pause and resume an endpoint's deployment over HTTP.

    GET  /_sagemill/endpoints/{EndpointName}/deployment                  the deployment in flight + history
    POST /_sagemill/endpoints/{EndpointName}/deployment/{promote|abort|pause|resume}   body: {"Reason": …}?

Requests are SigV4-signed for `sagemaker` like any SageMaker call and scoped to the caller's account and the
signing region, so a tenant only ever sees and steers its own endpoints. Answers are JSON (times in epoch
seconds, as AWS's JSON protocols send them); errors are AWS JSON errors (`ValidationException` with
SageMaker's `Could not find endpoint "…"`, or "… there is no deployment in progress."). A control writes its
flag under optimistic locking and wakes the reconciler, which honours it on its next tick.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

import anyio.to_thread

from sagemill.aws.auth import Authenticator, AuthFailure, AuthProblem, auth_error
from sagemill.aws.context import Principal, RequestContext
from sagemill.aws.errors import InternalFailure, SerializationError, ServiceError
from sagemill.aws.gateway import Receive, Scope, Send
from sagemill.aws.protocol import protocol_for
from sagemill.aws.request import AwsRequest, AwsResponse
from sagemill.aws.routing import DEFAULT_REGION, credential_scope
from sagemill.aws.specs import service_model
from sagemill.aws.streaming import BodyTooLarge, read_buffered_body, send_response
from sagemill.domain.deployment import ABORT, DEPLOYMENT, HISTORY, PAUSED, PROMOTE, deployment_type
from sagemill.domain.deployment_controls import ACTIONS, ControlRefused, request
from sagemill.domain.endpoints import EndpointState
from sagemill.domain.resources import Resource
from sagemill.domain.rolling_record import ROLLING, rolling_back
from sagemill.services.clock import Clock
from sagemill.services.sagemaker import resources
from sagemill.services.sagemaker.endpoints import KIND
from sagemill.services.sagemaker.errors import validation
from sagemill.store.base import Store

log = logging.getLogger("sagemill.deployments")

PREFIX = "/_sagemill/endpoints/"
MAX_BODY_BYTES = 16 * 1024
_PATH = re.compile(r"^/_sagemill/endpoints/([^/]+)/deployment(?:/([^/]+))?/?$")
_OPERATIONS = {
    "promote": "PromoteDeployment",
    "abort": "AbortDeployment",
    "pause": "PauseDeployment",
    "resume": "ResumeDeployment",
}


class DeploymentControls:
    """ASGI handler for the paths under PREFIX; `on_change` wakes the endpoint reconciler."""

    def __init__(
        self,
        store: Store,
        authenticator: Authenticator,
        clock: Clock,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.authenticator = authenticator
        self.clock = clock
        self.on_change = on_change
        self.protocol = protocol_for("json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        path = scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or scope["path"]
        try:
            body = await read_buffered_body(receive, headers, MAX_BODY_BYTES)
        except BodyTooLarge:
            error = ServiceError(
                "RequestEntityTooLargeException", f"The body is longer than {MAX_BODY_BYTES} bytes.", 413
            )
            response = self._error(error, str(uuid.uuid4()))
            response.headers["Connection"] = "close"  # the rest of the body is never read
            await send_response(send, response, scope["method"])
            return
        if body is None:
            return  # the client went away
        wire = AwsRequest(
            scope["method"], path, scope.get("query_string", b"").decode("latin-1"), headers, body
        )
        response = await anyio.to_thread.run_sync(self.answer, wire)
        await send_response(send, response, scope["method"])

    def answer(self, wire: AwsRequest) -> AwsResponse:
        """The JSON answer to one request (blocking: it authenticates and reads and writes the store)."""
        request_id = str(uuid.uuid4())
        try:
            return self._answer(wire, request_id)
        except ServiceError as error:
            return self._error(error, request_id)
        except Exception:
            log.exception("deployment extension: %s %s failed", wire.method, wire.path[:200])
            return self._error(InternalFailure(), request_id)

    def _error(self, error: ServiceError, request_id: str) -> AwsResponse:
        return self.protocol.serialize_error(error, service_model("sagemaker"), None, request_id)

    def _answer(self, wire: AwsRequest, request_id: str) -> AwsResponse:
        principal, region = self._authenticate(wire)
        match = _PATH.match(wire.path)
        action = match.group(2) if match else None
        if match is None or (action is not None and action not in ACTIONS):
            raise ServiceError(
                "UnknownOperationException",
                f"No Sagemill route {wire.path[:128]}; expected {PREFIX}{{EndpointName}}/deployment[/"
                f"{'|'.join(ACTIONS)}].",
                404,
            )
        wanted = "GET" if action is None else "POST"
        if wire.method != wanted:
            raise ServiceError(
                "MethodNotAllowedException",
                f"{wire.path[:128]} answers {wanted}, not {wire.method[:16]}.",
                405,
            )
        name = unquote(match.group(1))
        operation = _OPERATIONS[action] if action else "DescribeDeployment"
        context = RequestContext(request_id, "sagemaker", operation, region, principal)
        if action is None:
            body = view(resources.require(self.store, context, KIND, name))
        else:
            resource = self._control(context, name, action, _reason(wire.body))
            body = {"Action": action, **view(resource)}
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
        return AwsResponse(200, headers, json.dumps(body).encode())

    def _authenticate(self, wire: AwsRequest) -> tuple[Principal, str]:
        scope = credential_scope(wire)
        region = scope[0] if scope else DEFAULT_REGION
        try:
            if scope is not None and scope[1] != "sagemaker":
                raise AuthFailure(
                    AuthProblem.BAD_SIGNATURE, "Credential should be scoped to correct service: 'sagemaker'."
                )
            return self.authenticator.authenticate(wire, "sagemaker", region), region
        except AuthFailure as failure:
            raise auth_error(failure, "json", "sagemaker") from None

    def _control(self, context: RequestContext, name: str, action: str, note: str) -> Resource:
        """Record the control on the endpoint under optimistic locking (re-read and retry on a race)."""
        for _ in range(5):
            resource = resources.require(self.store, context, KIND, name)
            now = self.clock()
            try:
                state = request(
                    EndpointState.from_json(resource.observed), action, context.principal.arn, now, note
                )
            except ControlRefused as exc:
                raise validation(
                    f'Cannot {action} the deployment of endpoint "{resource.arn}": {exc}.'
                ) from None
            updated = replace(resource, observed=state.to_json(), next_action_at=now)
            if resources.try_update(self.store, updated, resource.version):
                self.on_change()
                return updated
        raise ServiceError("ThrottlingException", "The endpoint is changing; retry the request.")


def _reason(body: bytes) -> str:
    """The optional {"Reason": "…"} of a control request."""
    if not body.strip():
        return ""
    try:
        params = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise SerializationError("The body is not valid JSON.") from None
    if not isinstance(params, dict):
        raise validation('The body must be a JSON object, e.g. {"Reason": "…"}.')
    unknown = sorted(set(params) - {"Reason"})
    if unknown:
        raise validation(f"Unknown member(s) {', '.join(unknown)}; the body may hold only Reason.")
    reason = params.get("Reason", "")
    if not isinstance(reason, str):
        raise validation("Reason must be a string.")
    return reason


def view(resource: Resource) -> dict[str, Any]:
    """The endpoint's deployment in flight (or null) and its past deployments, oldest first."""
    state = EndpointState.from_json(resource.observed)
    current = state.extra.get(DEPLOYMENT)
    return {
        "EndpointName": resource.key.name,
        "EndpointArn": resource.arn,
        "EndpointStatus": state.status.value,
        "EndpointConfigName": state.config_name,
        "Deployment": _deployment(current, state) if isinstance(current, Mapping) else None,
        "History": [_deployment(d, None) for d in state.extra.get(HISTORY) or [] if isinstance(d, Mapping)],
    }


def _deployment(record: Mapping[str, Any], state: EndpointState | None) -> dict[str, Any]:
    """One deployment record in wire form; `state` is the endpoint's for the one in flight."""
    if record.get("outcome"):
        status = str(record["outcome"])
    elif record.get(ABORT):
        status = "Aborting"
    elif rolling_back(record):
        status = "RollingBack"
    elif record.get(PROMOTE):
        status = "Promoting"
    elif record.get(PAUSED):
        status = "Paused"
    else:
        status = "InProgress"
    out: dict[str, Any] = {
        "Status": status,
        "Type": deployment_type(record.get("config")),
        "EndpointConfigName": record.get("endpoint_config") or (state.pending_config if state else ""),
        "PreviousEndpointConfigName": record.get("previous_config") or (state.config_name if state else ""),
        "StartTime": record.get("started"),
        "Step": record.get("step"),
        "GreenWeight": record.get("green_weight", 0.0),
        "Alarms": list(record.get("alarms") or []),
        "DeploymentConfig": record.get("config"),
    }
    optional = {
        "EndTime": record.get("ended"),
        "Reason": record.get("reason"),
        "Deadline": record.get("deadline"),
        "PausedSeconds": record.get("paused_seconds"),
        "Paused": record.get(PAUSED),
        "PromoteRequested": record.get(PROMOTE),
        "AbortRequested": record.get(ABORT),
        "Rolling": record.get(ROLLING),
    }
    out.update({key: _wire(value) for key, value in optional.items() if value not in (None, "")})
    out["Events"] = [_wire(e) for e in record.get("events") or []]
    return out


def _wire(value: Any) -> Any:
    """A stored record in the wire's PascalCase (time → Time, kind → Event, green_weight → GreenWeight)."""
    if not isinstance(value, Mapping):
        return value
    names = {
        "kind": "Event",
        "by": "Principal",
        "note": "Reason",
        "at": "Time",
        "remaining": "RemainingBakeSeconds",
    }
    return {
        names.get(key, "".join(part.capitalize() for part in key.split("_"))): item
        if key == "alarms"
        else _wire(item)
        for key, item in value.items()
    }
