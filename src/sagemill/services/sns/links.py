"""The URLs SNS puts in its messages, served unauthenticated under /_sagemill/sns/: links and certificate.

`GET /_sagemill/sns/confirm?TopicArn=…&Token=…` confirms (the token is the secret) and answers
ConfirmSubscription's XML, as SNS's SubscribeURL does; `GET /_sagemill/sns/unsubscribe?SubscriptionArn=…`
cancels a subscription unless it was confirmed with AuthenticateOnUnsubscribe=true;
`GET /_sagemill/sns/SimpleNotificationService-<digest>.pem` is the SigningCertURL: the signing certificate.
"""

from __future__ import annotations

import logging
import uuid
from urllib.parse import parse_qsl

import anyio.to_thread

from sagemill.aws.errors import InternalFailure, ServiceError
from sagemill.aws.gateway import Receive, Scope, Send
from sagemill.aws.protocol.query import QueryProtocol
from sagemill.aws.request import AwsResponse
from sagemill.aws.specs import operation_model, service_model
from sagemill.aws.streaming import send_response
from sagemill.control.notifications import SUBSCRIPTION_KIND
from sagemill.security.sns_signing import MessageSigner
from sagemill.services.clock import Clock
from sagemill.services.sns.access import parse_sns_arn
from sagemill.services.sns.confirmation import confirm
from sagemill.store.base import Store

log = logging.getLogger("sagemill.sns")

PREFIX = "/_sagemill/sns/"
_OPERATIONS = {"confirm": "ConfirmSubscription", "unsubscribe": "Unsubscribe"}


class SnsLinks:
    """ASGI handler for the paths under PREFIX."""

    def __init__(self, store: Store, clock: Clock, signer: MessageSigner | None = None) -> None:
        self.store = store
        self.clock = clock
        self.protocol = QueryProtocol()
        self.certificate_path = PREFIX + signer.certificate_name if signer is not None else None
        self.certificate_pem = signer.certificate_pem if signer is not None else b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        response = await anyio.to_thread.run_sync(self.answer, scope["path"], query)
        await send_response(send, response, scope["method"])

    def answer(self, path: str, query: str) -> AwsResponse:
        request_id = str(uuid.uuid4())
        if path == self.certificate_path:
            # Public by nature: subscribers need it to verify signatures; the private key is never served.
            headers = {"Content-Type": "application/x-pem-file", "x-amzn-RequestId": request_id}
            return AwsResponse(200, headers, self.certificate_pem)
        name = _OPERATIONS.get(path.removeprefix(PREFIX))
        if name is None:
            error = ServiceError("NotFound", f"No Sagemill route {path[:128]}.", 404)
            return self.protocol.serialize_error(error, service_model("sns"), None, request_id)
        operation = operation_model("sns", name)
        params = dict(parse_qsl(query, keep_blank_values=True, max_num_fields=20))
        try:
            if name == "ConfirmSubscription":
                topic_arn, token = params.get("TopicArn", ""), params.get("Token", "")
                result = {
                    "SubscriptionArn": confirm(
                        self.store, self.clock, topic_arn, token, authenticated=False
                    ).arn
                }
            else:
                self.unsubscribe(params.get("SubscriptionArn", ""))
                result = {}
            return self.protocol.serialize(result, operation, request_id)
        except ServiceError as error:
            return self.protocol.serialize_error(error, service_model("sns"), operation, request_id)
        except Exception:
            log.exception("SNS link %s failed", name)
            return self.protocol.serialize_error(
                InternalFailure(), service_model("sns"), operation, request_id
            )

    def unsubscribe(self, arn: str) -> None:
        parse_sns_arn(arn, "SubscriptionArn", 7)
        subscription = self.store.get_resource_by_arn(arn)
        if subscription is None or subscription.key.kind != SUBSCRIPTION_KIND:
            return  # already gone: unsubscribing is idempotent
        if subscription.observed.get("AuthenticateOnUnsubscribe"):
            raise ServiceError(
                "AuthorizationError",
                "This subscription was confirmed with AuthenticateOnUnsubscribe; unsubscribing needs a "
                "signed Unsubscribe request from the topic's owner.",
                403,
            )
        self.store.delete_resource(subscription.key)
