"""`sagemill serve | migrate | admin …`: the command-line contract other tools rely on."""

from __future__ import annotations

import argparse
import errno
import gc
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sagemill import __version__
from sagemill.cli import admin, alarms, endpoints, jobs
from sagemill.config import DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, Settings, env_default


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(env_default("SAGEMILL_DATA_DIR", str(DEFAULT_DATA_DIR)) or DEFAULT_DATA_DIR),
        help="where the SQLite database, server key and objects live (default ./.sagemill)",
    )
    parser.add_argument(
        "--database-url",
        default=env_default("SAGEMILL_DATABASE_URL", None),
        help="SQLAlchemy URL, e.g. postgresql://user:pw@host/db (default: SQLite in the data dir)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sagemill", description="A self-hosted SageMaker-compatible platform."
    )
    parser.add_argument("--version", action="version", version=f"sagemill {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve every AWS API on one port")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--auth", choices=("dev", "strict"), default="dev")
    serve.add_argument("--migrate", action="store_true", help="apply database migrations before serving")
    serve.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    serve.add_argument(
        "--object-store",
        metavar="URL",
        default=env_default("SAGEMILL_OBJECT_STORE", None),
        help="where S3 object bytes live: file:///path, or s3://bucket/prefix for an external "
        "S3-compatible store (default: the objects/ folder of the data dir)",
    )
    serve.add_argument(
        "--s3-virtual-host",
        metavar="SUFFIX",
        action="append",
        default=None,
        help="a host suffix under which <bucket>.<SUFFIX> addresses an S3 bucket; repeatable "
        "(default: localhost)",
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        default=env_default("SAGEMILL_PUBLIC_URL", None),
        help="the base URL SNS endpoints reach this server at, for SubscribeURL/UnsubscribeURL "
        "(default: http://HOST:PORT)",
    )
    serve.add_argument(
        "--smtp-url",
        metavar="URL",
        default=env_default("SAGEMILL_SMTP_URL", None),
        help="SMTP server for SNS email: smtp[s]://[user:password@]host[:port]?from=addr[&starttls=true] "
        "(prefer SAGEMILL_SMTP_URL when it holds a password)",
    )
    _common(serve)

    migrate = commands.add_parser("migrate", help="create or upgrade the database schema")
    _common(migrate)

    jobs_parser = commands.add_parser("jobs", help="list training jobs, or follow one live")
    jobs.add_commands(jobs_parser)

    endpoints_parser = commands.add_parser("endpoints", help="list endpoints; show or steer deployments")
    endpoints.add_commands(endpoints_parser)

    alarms_parser = commands.add_parser(
        "alarms", help="CloudWatch alarms: state, why, and a warning for those that can never fire"
    )
    alarms.add_commands(alarms_parser)

    admin_parser = commands.add_parser("admin", help="accounts and access keys")
    _common(admin_parser)
    admin.add_commands(admin_parser)
    return parser


def redact(url: str) -> str:
    """A database URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "jobs":
        return jobs.run(args)
    if args.command == "endpoints":
        return endpoints.run(args)
    if args.command == "alarms":
        return alarms.run(args)
    settings = Settings(
        host=getattr(args, "host", DEFAULT_HOST),
        port=getattr(args, "port", DEFAULT_PORT),
        data_dir=args.data_dir,
        database_url=args.database_url,
        auth=getattr(args, "auth", "dev"),
        object_store_url=getattr(args, "object_store", None),
        s3_virtual_host_suffixes=tuple(getattr(args, "s3_virtual_host", None) or ("localhost",)),
        public_url=getattr(args, "public_url", None),
        smtp_url=getattr(args, "smtp_url", None),
    )
    if args.command == "serve" and settings.smtp_url:
        from sagemill.control.notification_transports import SmtpServer

        try:
            SmtpServer.from_url(settings.smtp_url)
        except ValueError as exc:
            print(f"sagemill: --smtp-url: {exc}", file=sys.stderr)
            return 2
    if args.command == "migrate":
        return migrate(settings)
    if args.command == "admin":
        return admin.run(args, settings)
    return serve(settings, migrate_first=args.migrate, log_level=args.log_level)


def migrate(settings: Settings) -> int:
    from sagemill.app import open_store
    from sagemill.store.sql.migrate import upgrade

    store = open_store(settings)
    try:
        before, after = upgrade(store.engine)
    finally:
        store.close()
    url = redact(settings.resolved_database_url)
    if before == after:
        print(f"Database {url} is already at revision {after}.")
    else:
        print(f"Migrated {url} from {before or 'empty'} to revision {after}.")
    return 0


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


SWITCH_INTERVAL_S = 0.0005
"""How long `serve`'s event loop may wait for a busy background thread to hand it the GIL."""


def serve(settings: Settings, *, migrate_first: bool = False, log_level: str = "warning") -> int:
    import uvicorn

    from sagemill.app import Application, open_store
    from sagemill.aws.http_protocol import GatewayHttpProtocol
    from sagemill.control.sns_egress import BadNetworkSetting
    from sagemill.security.keyring import KeyringError
    from sagemill.store.sql.migrate import current_revision, head_revision, upgrade

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not _port_free(settings.host, settings.port):
        print(
            f"sagemill: port {settings.port} on {settings.host} is already in use; "
            "stop the other server or choose another --port.",
            file=sys.stderr,
        )
        return 1
    store = open_store(settings)
    try:
        if migrate_first:
            upgrade(store.engine)
        current, head = current_revision(store.engine), head_revision()
        if current != head:
            print(
                f"sagemill: the database {redact(settings.resolved_database_url)} is not migrated "
                f"(revision {current or 'none'}, need {head}); run `sagemill migrate` first "
                "(with the same --data-dir/--database-url).",
                file=sys.stderr,
            )
            return 2
        try:
            application = Application(settings, store)
        except (KeyringError, BadNetworkSetting) as exc:
            print(f"sagemill: {exc}", file=sys.stderr)
            return 2
        except (ValueError, ImportError) as exc:
            print(f"sagemill: cannot open the object store: {exc}", file=sys.stderr)
            return 2
        config = uvicorn.Config(
            application.gateway,
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            lifespan="on",
            access_log=False,
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=10,
            # httptools (llhttp) for its speed; a request it refuses but h11 reads (an unusual method
            # token) is handed to h11, so the gateway still answers it AWS-style (aws/http_protocol.py).
            http=GatewayHttpProtocol,
            # Nothing reads X-Forwarded-*: without the middleware, each request skips one more ASGI layer.
            proxy_headers=False,
        )
        server = uvicorn.Server(config)
        # The event loop shares the GIL with the control loop and metric flusher threads: waking from
        # epoll, it waits for them to yield it, up to the switch interval (5 ms by default), which
        # showed in InvokeEndpoint's p99. And the start-up heap (botocore's service models, mostly)
        # is frozen out of the cyclic collector, which would otherwise walk it on each full collection.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        gc.collect()
        gc.freeze()
        url = f"http://{settings.host}:{settings.port}"
        print(f"Sagemill {__version__} ({settings.auth} auth) serving AWS APIs at {url}", flush=True)
        print(f"  export AWS_ENDPOINT_URL={url}", flush=True)
        server.run()
        print("Sagemill stopped.", flush=True)
        return 0 if server.started else 1
    finally:
        store.close()
