"""How the user-facing commands reach a running server: its URL and region options, a session, errors."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """`--endpoint-url` and `--region`, defaulting to the AWS environment variables the SDKs read."""
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4600"),
        help="the Sagemill server (default: $AWS_ENDPOINT_URL or http://127.0.0.1:4600)",
    )
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))


def session(args: argparse.Namespace, session_token: str | None = None) -> Any:
    """A boto3 session with the environment's keys (dev-auth defaults when unset) in `args.region`."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "000000000000"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "sagemill"),
        aws_session_token=session_token,
        region_name=args.region,
    )


def client(args: argparse.Namespace, service: str) -> Any:
    """A client of `service` on the server `args.endpoint_url` names."""
    return session(args).client(service, endpoint_url=args.endpoint_url)


def failed(exc: Exception, endpoint_url: str) -> int:
    """Say why an AWS call failed (the server's message, or that it cannot be reached); exit status 1."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        print(f"sagemill: {exc.response['Error'].get('Message', exc)}", file=sys.stderr)
    else:
        print(f"sagemill: cannot reach {endpoint_url}: {exc}", file=sys.stderr)
    return 1
