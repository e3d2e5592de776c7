"""The SNS provider (query protocol): topics, subscriptions, Publish and tags, composed from one module each.

Delivery is not done here: Publish and Subscribe enqueue durable deliveries on the NotificationQueue
(control/notifications.py), whose own thread sends them with retries and back-off.

LIMITATIONS:
- Subscription protocols: http, https, email and email-json only; sqs, lambda, sms, application and
  firehose are refused with SNS's "does not support this protocol string" InvalidParameter.
- No FIFO topics (FifoTopic=true, MessageGroupId and MessageDeduplicationId are refused), no PublishBatch,
  no SMS (PhoneNumber), no platform applications, no data protection policies.
- Messages are signed (SignatureVersion 1 or 2) with the server's own key, whose self-signed certificate
  is served at SigningCertURL under the public URL; verifiers that insist on an amazonaws.com certificate
  URL (the AWS SDKs' message validators) refuse it. No UnsubscribeConfirmation message is sent.
- HTTP(S) endpoints are subject to the egress policy (control/sns_egress.py): metadata, link-local,
  unspecified, multicast and broadcast addresses are refused, at Subscribe for IP literals and at every
  delivery for names.
- Topic policies are stored and reported, not evaluated; another account's topic is always refused
  (AuthorizationError), never shared. AddPermission/RemovePermission are not implemented.
- DeliveryPolicy is stored, not honoured: every delivery follows the server's retry policy (exponential
  back-off, `SAGEMILL_SNS_MAX_ATTEMPTS` tries). Subscription attributes other than RawMessageDelivery
  (FilterPolicy, RedrivePolicy, …) are refused; no filter policies, no dead-letter queues.
- Unconfirmed subscriptions are kept until unsubscribed (SNS deletes them after three days); their
  tokens expire after three days as in SNS.
- SubscriptionsDeleted is always 0; delivery status logging and CloudWatch metrics for SNS are not emitted.
"""

from __future__ import annotations

from sagemill.aws.dispatch import Handler
from sagemill.control.notifications import NotificationQueue
from sagemill.services.clock import Clock
from sagemill.services.sns import publishing, subscriptions, tags, topics
from sagemill.store.base import Store


def operations(store: Store, clock: Clock, notifications: NotificationQueue) -> dict[str, Handler]:
    return {
        **topics.operations(store, clock),
        **subscriptions.operations(store, clock, notifications),
        **publishing.operations(store, notifications),
        **tags.operations(store),
    }
