"""Composition root: the only module that names concrete adapters and wires them together."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio.to_thread

from sagemill import __version__
from sagemill.aws.auth import Authenticator
from sagemill.aws.dispatch import Dispatcher
from sagemill.aws.gateway import Gateway, Receive, Scope, Send
from sagemill.config import Settings
from sagemill.control.alarms import AlarmEvaluator
from sagemill.control.endpoints import KIND as ENDPOINT_KIND
from sagemill.control.endpoints import POLL_SECONDS as ENDPOINT_POLL_SECONDS
from sagemill.control.endpoints import EndpointReconciler
from sagemill.control.loop import Loop, PeriodicTask
from sagemill.control.notification_transports import MailSender, SmtpServer, no_mail_server
from sagemill.control.notifications import NotificationQueue, RetryPolicy
from sagemill.control.sns_egress import EgressPolicy
from sagemill.control.training import KIND as TRAINING_KIND
from sagemill.control.training import POLL_SECONDS as TRAINING_POLL_SECONDS
from sagemill.control.training import TrainingJobReconciler
from sagemill.executors.capacity import CapacityPlanner, Machine
from sagemill.executors.local.executor import LocalExecutor
from sagemill.metrics.invocation_flush import InvocationFlusher
from sagemill.metrics.invocations import BucketingRecorder
from sagemill.metrics.prometheus import PrometheusMetrics, exposed
from sagemill.objectstore.base import ObjectStore
from sagemill.objectstore.filesystem import FilesystemObjectStore
from sagemill.security.authenticators import DevAuthenticator
from sagemill.security.sns_signing import MessageSigner
from sagemill.services.clock import Clock, system_clock
from sagemill.services.cloudwatch import provider as cloudwatch_provider
from sagemill.services.logs import provider as logs_provider
from sagemill.services.logs.retention import purge_expired
from sagemill.services.logs.writer import LogWriter
from sagemill.services.s3 import provider as s3_provider
from sagemill.services.sagemaker import endpoints, training_jobs
from sagemill.services.sagemaker import provider as sagemaker_provider
from sagemill.services.sagemaker.deployments import PREFIX as DEPLOYMENTS_PREFIX
from sagemill.services.sagemaker.deployments import DeploymentControls
from sagemill.services.sns import provider as sns_provider
from sagemill.services.sns.links import PREFIX as SNS_LINKS_PREFIX
from sagemill.services.sns.links import SnsLinks
from sagemill.services.sts import provider as sts_provider
from sagemill.serving.invoke import InvokeEndpoint
from sagemill.serving.router import RoutingTable
from sagemill.store.base import Store
from sagemill.store.logs import LogStore
from sagemill.store.metrics import MetricStore
from sagemill.store.sql.logs import SqlLogStore
from sagemill.store.sql.metrics import SqlMetricStore
from sagemill.store.sql.repositories import SqlStore


class Application:
    """The running platform: store, authenticator, dispatcher and the ASGI gateway."""

    def __init__(
        self, settings: Settings, store: Store, clock: Clock = system_clock, log_store: LogStore | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.log_store = log_store if log_store is not None else open_log_store(store)
        # The platform's own jobs and endpoints append their output through this.
        self.log_writer = LogWriter(self.log_store, clock)
        self.dispatcher = Dispatcher()
        self.dispatcher.register("sagemaker", sagemaker_provider.operations(store, clock))
        self.dispatcher.register("sagemaker", training_jobs.operations(store, clock, self._wake_background))
        self.dispatcher.register("sagemaker", endpoints.operations(store, clock, self._wake_background))
        self.dispatcher.register("sts", sts_provider.operations())
        # SNS: API calls enqueue durable deliveries; the queue's own thread sends them (start/stop below).
        self.notifications = open_notifications(settings, store, clock)
        self.dispatcher.register("sns", sns_provider.operations(store, clock, self.notifications))
        self.sns_links = SnsLinks(store, clock, self.notifications.signer)
        self.dispatcher.register("logs", logs_provider.operations(self.log_store, clock))
        self.metric_store = open_metric_store(store)
        self.dispatcher.register(
            "cloudwatch", cloudwatch_provider.operations(store, self.metric_store, clock, self._publish)
        )
        self.alarms = AlarmEvaluator(store, self.metric_store, self._publish)
        self.object_store = open_object_store(settings)
        self.dispatcher.register("s3", s3_provider.operations(store, self.object_store, clock))
        authenticator = make_authenticator(settings, store, clock)
        # /_sagemill/endpoints/{name}/deployment[/promote|abort|pause|resume], signed like SageMaker calls.
        self.deployment_controls = DeploymentControls(store, authenticator, clock, self._wake_background)
        # The data plane: the reconciler publishes routes, InvokeEndpoint reads them (no DB per request).
        self.routes = RoutingTable()
        self.invocation_metrics = BucketingRecorder()
        self.invoke = InvokeEndpoint(self.routes, authenticator, self.invocation_metrics)
        # Prometheus /metrics, and the thread that turns invocations into AWS/SageMaker metrics.
        self.prometheus = PrometheusMetrics(store, __version__, public=exposed(settings.auth))
        self.invocation_flusher = InvocationFlusher(
            self.invocation_metrics, self.metric_store, observers=[self.prometheus.fold]
        )
        self.gateway = Gateway(
            self.dispatcher,
            authenticator,
            max_body_bytes=settings.max_body_bytes,
            extensions=self._extensions,
            on_startup=self._start_background,
            on_shutdown=self._stop_background,
            s3_virtual_host_suffixes=settings.s3_virtual_host_suffixes,
            fast_path=self.invoke,
            metrics=self.prometheus.app,
            on_request=self.prometheus.observe_request,
        )
        executor = LocalExecutor()
        self.endpoints = EndpointReconciler(
            store, self.object_store, executor, self.log_writer, self.routes, settings.data_dir / "endpoints"
        )
        self.training = TrainingJobReconciler(
            store,
            self.object_store,
            executor,
            self.log_writer,
            CapacityPlanner(Machine.detect()),
            settings.data_dir / "jobs" / "training",
            job_env=settings.job_env(),
            metric_store=self.metric_store,
        )
        # Work repeated while the server runs: retention, reconcilers.
        self.background = Loop(
            [
                # The reconcilers sleep until their queue's next row is due (at most 1 s): an idle
                # server does not query the database ten times a second; API writes wake them.
                PeriodicTask(
                    "training jobs",
                    TRAINING_POLL_SECONDS,
                    self.training.tick,
                    due=lambda: store.next_action_time(TRAINING_KIND),
                ),
                PeriodicTask(
                    "endpoints",
                    ENDPOINT_POLL_SECONDS,
                    self.endpoints.tick,
                    due=lambda: store.next_action_time(ENDPOINT_KIND),
                ),
                PeriodicTask("log retention", 3600.0, self.purge_expired_logs),
                PeriodicTask("alarms", settings.alarm_evaluation_seconds, self.alarms.tick),
                PeriodicTask("metric retention", 3600.0, self.purge_expired_metrics),
            ]
        )

    def _wake_background(self) -> None:
        self.background.wake()

    async def _start_background(self) -> None:
        self.background.start()
        self.notifications.start()
        self.invocation_flusher.start()

    async def _stop_background(self) -> None:
        await anyio.to_thread.run_sync(self.background.stop)
        await anyio.to_thread.run_sync(self.notifications.stop)
        await anyio.to_thread.run_sync(self.invocation_flusher.stop)

    async def _extensions(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Sagemill's own small HTTP API under /_sagemill/."""
        if scope["path"].startswith(SNS_LINKS_PREFIX):
            await self.sns_links(scope, receive, send)  # SubscribeURL / UnsubscribeURL: XML, as SNS answers
            return
        if scope["path"].startswith(DEPLOYMENTS_PREFIX):
            await self.deployment_controls(scope, receive, send)  # SigV4-signed JSON (docs/deployments.md)
            return
        body: dict[str, Any]
        if scope["path"] == "/_sagemill/health":
            status, body = 200, {"status": "ok", "version": __version__}
        elif scope["path"] == "/_sagemill/invocations" and self.settings.auth == "dev":
            status, body = 200, {"invocations": self.invocation_totals()}
        else:
            status, body = 404, {"__type": "NotFound", "message": f"No Sagemill route {scope['path'][:128]}."}
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def invocation_totals(self) -> list[dict[str, Any]]:
        """Read-only: the in-memory invocation totals per (endpoint, variant, config) since the start.

        Served at `/_sagemill/invocations` in dev auth mode only (it is unauthenticated and names every
        account's endpoints): counts and latency sums, no payloads; bench/serving.py reads it.
        """
        return [
            {
                "AccountId": ref.account_id,
                "Region": ref.region,
                "EndpointName": ref.name,
                "VariantName": variant,
                "EndpointConfigName": config,
                "Invocations": t.invocations,
                "Invocation4XXErrors": t.errors_4xx,
                "Invocation5XXErrors": t.errors_5xx,
                "ModelLatencySumMicroseconds": t.model_latency_us_sum,
                "ModelLatencyMaxMicroseconds": t.model_latency_us_max,
                "OverheadLatencySumMicroseconds": t.overhead_latency_us_sum,
                "OverheadLatencyMaxMicroseconds": t.overhead_latency_us_max,
            }
            for (ref, variant, config), t in self.invocation_metrics.snapshot().items()
        ]

    def purge_expired_logs(self, now: float | None = None) -> int:
        """Delete log events their group's retention no longer keeps; call periodically."""
        return purge_expired(self.log_store, self.clock() if now is None else now)

    def _publish(
        self, account_id: str, region: str, topic_arn: str, message: str, subject: str | None
    ) -> str:
        """Alarm actions' way into SNS: the alarm JSON published to the topic's subscribers."""
        return self.notifications.publish(account_id, region, topic_arn, message, subject)

    def purge_expired_metrics(self, now: float | None = None) -> int:
        """Delete metric data points and alarm history older than their retention; call periodically."""
        moment = self.clock() if now is None else now
        self.metric_store.purge_history_before(moment - 14 * 86_400)
        return self.metric_store.purge_before(int(moment - self.settings.metric_retention_days * 86_400))

    def close(self) -> None:
        self.store.close()


def make_authenticator(settings: Settings, store: Store, clock: Clock) -> Authenticator:
    if settings.auth == "strict":
        from sagemill.security.keyring import Keyring
        from sagemill.security.strict import StrictAuthenticator

        return StrictAuthenticator(
            store, Keyring.load_or_create(settings.data_dir), clock, settings.max_clock_skew_seconds
        )
    return DevAuthenticator()


def open_store(settings: Settings) -> SqlStore:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqlStore(settings.resolved_database_url)


def open_object_store(settings: Settings) -> ObjectStore:
    """Object bytes: on disk in the data dir by default, or in an external S3 (`s3://bucket/prefix`)."""
    url = settings.object_store_url
    if url is None:
        return FilesystemObjectStore(settings.data_dir / "objects")
    if url.startswith("file://"):
        return FilesystemObjectStore(Path(url.removeprefix("file://")))
    if url.startswith("s3://"):
        # Imported only when asked for: it needs boto3, which the embedded default does not.
        from sagemill.objectstore.s3 import ExternalS3Config, S3ObjectStore

        return S3ObjectStore(ExternalS3Config.from_url(url))
    raise ValueError(f"unsupported object store {url!r}: expected file:///path or s3://bucket/prefix")


def open_log_store(store: Store) -> LogStore:
    """CloudWatch Logs state lives in the same database as everything else."""
    if isinstance(store, SqlStore):
        # One database, one writer queue: SQLite writers of both stores must share the lock.
        return SqlLogStore(store.engine, write_lock=store.write_lock)
    raise TypeError(f"no log store for {type(store).__name__}; pass log_store= to Application")


def open_metric_store(store: Store) -> MetricStore:
    """CloudWatch metrics and alarm history live in the same database as everything else."""
    if isinstance(store, SqlStore):
        return SqlMetricStore(store.engine, write_lock=store.write_lock)
    raise TypeError(f"no metric store for {type(store).__name__}")


def open_notifications(settings: Settings, store: Store, clock: Clock) -> NotificationQueue:
    """SNS deliveries: HTTP(S) always, email through the configured SMTP server, if any."""
    mail: MailSender = SmtpServer.from_url(settings.smtp_url) if settings.smtp_url else no_mail_server
    policy = RetryPolicy(max_attempts=settings.sns_max_attempts, base_delay=settings.sns_retry_base_seconds)
    egress = EgressPolicy.from_settings(settings.sns_http_allowed_networks, settings.sns_http_denied_networks)
    signer = MessageSigner.load_or_create(settings.data_dir)  # <data-dir>/sns-signing.pem, mode 0600
    return NotificationQueue(
        store,
        clock,
        public_url=settings.resolved_public_url,
        policy=policy,
        mail=mail,
        egress=egress,
        signer=signer,
    )


def build(settings: Settings, **overrides: Any) -> Application:
    return Application(settings, open_store(settings), **overrides)
