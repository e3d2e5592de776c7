"""`sagemill endpoints list`: endpoints and their variants' state, through the server's own AWS API."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO


def add_commands(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4600"),
        help="the Sagemill server (default: $AWS_ENDPOINT_URL or http://127.0.0.1:4600)",
    )
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    commands = parser.add_subparsers(dest="endpoints_command", required=True)
    listing = commands.add_parser(
        "list", help="endpoints with status, and each variant's weight and instances"
    )
    listing.add_argument("--max", type=int, default=20)


def _client(args: argparse.Namespace) -> Any:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "000000000000"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "sagemill"),
        region_name=args.region,
    )
    return session.client("sagemaker", endpoint_url=args.endpoint_url)


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return list_endpoints(_client(args), args.max, out)
    except ClientError as exc:
        print(f"sagemill: {exc.response['Error'].get('Message', exc)}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"sagemill: cannot reach {args.endpoint_url}: {exc}", file=sys.stderr)
        return 1


def list_endpoints(sagemaker: Any, limit: int, out: TextIO) -> int:
    from botocore.exceptions import ClientError

    summaries = sagemaker.list_endpoints(MaxResults=min(max(limit, 1), 100))["Endpoints"]
    print(f"{'NAME':40} {'STATUS':14} {'CONFIG':30} CREATED", file=out)
    for summary in summaries:
        name = summary["EndpointName"]
        try:
            endpoint = sagemaker.describe_endpoint(EndpointName=name)
        except ClientError:
            continue  # deleted between the list and the describe
        created = summary["CreationTime"].strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{name:40} {endpoint['EndpointStatus']:14} {endpoint['EndpointConfigName']:30} {created}",
            file=out,
        )
        if endpoint.get("FailureReason"):
            print(f"  reason: {endpoint['FailureReason'][:200]}", file=out)
        for variant in endpoint.get("ProductionVariants", []):
            statuses = ", ".join(s["Status"] for s in variant.get("VariantStatus", []))
            print(
                f"  {variant['VariantName']:24} "
                f"weight {variant['CurrentWeight']:g}/{variant['DesiredWeight']:g}"
                f"  instances {variant['CurrentInstanceCount']}/{variant['DesiredInstanceCount']}"
                f"{'  ' + statuses if statuses else ''}",
                file=out,
            )
    return 0
