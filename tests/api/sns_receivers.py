"""SNS test helpers: a real HTTP receiver on 127.0.0.1, polling, and the live server's delivery rows."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from sagemill.domain.resources import Resource, ResourceQuery, SortKey, SortOrder
from sagemill.store.sql.repositories import SqlStore

T = TypeVar("T")
REGION = "us-east-1"


def new_account() -> str:
    return str(100_000_000_000 + secrets.randbelow(900_000_000_000))


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 20.0) -> T:
    """Poll until `check` returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class Hook:
    """A real HTTP endpoint on 127.0.0.1 recording SNS's POSTs; answers `statuses` in turn, then `status`."""

    def __init__(self, auto_confirm: bool = True) -> None:
        self.auto_confirm = auto_confirm
        self.lock = threading.Lock()
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.statuses: list[int] = []
        self.status = 200
        self.confirmed: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                envelope = json.loads(body)
                with hook.lock:
                    hook.posts.append((headers, envelope))
                    status = hook.statuses.pop(0) if hook.statuses else hook.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if status == 200 and hook.auto_confirm and envelope.get("Type") == "SubscriptionConfirmation":
                    # Answer first, then visit SubscribeURL, as a real endpoint would.
                    threading.Thread(target=hook.visit, args=(envelope["SubscribeURL"],), daemon=True).start()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sns"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def visit(self, url: str) -> None:
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        with self.lock:
            self.confirmed.append(text)

    def of_type(self, kind: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        with self.lock:
            return [(h, e) for h, e in self.posts if e.get("Type") == kind]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def deliveries(store: SqlStore, account: str, message_id: str) -> list[Resource]:
    query = ResourceQuery(
        account,
        REGION,
        "sns-delivery",
        name_contains=message_id,
        sort_key=SortKey.NAME,
        sort_order=SortOrder.ASCENDING,
    )
    return store.list_resources(query)[0]


def subscribe_confirmed(sns: Any, topic: str, hook: Hook) -> str:
    assert (
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)["SubscriptionArn"]
        == "pending confirmation"
    )
    wait_for("the SubscribeURL visit", lambda: hook.confirmed)

    def confirmed_arn() -> str | None:
        subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        arn = subscriptions[0]["SubscriptionArn"] if subscriptions else None
        return arn if arn and arn != "PendingConfirmation" else None

    return wait_for("the subscription to be confirmed", confirmed_arn)
