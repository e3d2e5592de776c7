"""`sagemill endpoints list | history | promote | abort | pause | resume`, through the server's own APIs.

`list` uses the SageMaker API; the others use Sagemill's deployment extension
(`/_sagemill/endpoints/{name}/deployment`, SigV4-signed with the same credentials; docs/deployments.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import quote

from sagemill.cli.remote import add_server_options, failed, session

CONTROLS = ("promote", "abort", "pause", "resume")
_CONTROL_HELP = {
    "promote": "skip the remaining shift and bake steps: all traffic to the new fleet, then retire the old",
    "abort": "roll the deployment back now (FailureReason names you)",
    "pause": "hold the deployment at its current step; bakes and the overall timeout stop",
    "resume": "continue a paused deployment; a bake continues with the seconds it had left",
}


def add_commands(parser: argparse.ArgumentParser) -> None:
    add_server_options(parser)
    commands = parser.add_subparsers(dest="endpoints_command", required=True)
    listing = commands.add_parser(
        "list", help="endpoints with status, and each variant's weight and instances"
    )
    listing.add_argument("--max", type=int, default=20)
    history = commands.add_parser(
        "history", help="the endpoint's deployments as a timeline: every step, bake, alarm check and outcome"
    )
    history.add_argument("name", metavar="NAME")
    history.add_argument("--json", action="store_true", help="print the extension's JSON answer as is")
    for action in CONTROLS:
        control = commands.add_parser(action, help=_CONTROL_HELP[action])
        control.add_argument("name", metavar="NAME")
        control.add_argument("--reason", default="", help="why (recorded in the timeline)")


def _session(args: argparse.Namespace) -> Any:
    return session(args, os.environ.get("AWS_SESSION_TOKEN"))


def _client(args: argparse.Namespace) -> Any:
    return _session(args).client("sagemaker", endpoint_url=args.endpoint_url)


class ExtensionError(Exception):
    """The deployment extension answered an error (its AWS-style message)."""


def call_extension(args: argparse.Namespace, name: str, action: str = "", body: bytes = b"") -> Any:
    """GET (no action) or POST an action to the endpoint's deployment, SigV4-signed for `sagemaker`."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = f"{args.endpoint_url.rstrip('/')}/_sagemill/endpoints/{quote(name, safe='')}/deployment"
    url += f"/{action}" if action else ""
    method = "POST" if action else "GET"
    signed = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(_session(args).get_credentials(), "sagemaker", args.region).add_auth(signed)
    wire = urllib.request.Request(url, data=body if action else None, method=method)
    for header, value in signed.headers.items():
        wire.add_header(header, value)
    try:
        with urllib.request.urlopen(wire, timeout=30) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            error = json.loads(raw)
            message = error.get("message") or error.get("Message") or raw.decode("utf-8", "replace")
        except ValueError:
            message = raw.decode("utf-8", "replace")[:500]
        raise ExtensionError(str(message)) from None


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    command = getattr(args, "endpoints_command", "list")
    if command == "history" or command in CONTROLS:
        try:
            if command == "history":
                return print_history(call_extension(args, args.name), out, as_json=args.json)
            body = json.dumps({"Reason": args.reason}).encode() if args.reason else b""
            return print_control(command, call_extension(args, args.name, command, body), out)
        except ExtensionError as exc:
            print(f"sagemill: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"sagemill: cannot reach {args.endpoint_url}: {exc}", file=sys.stderr)
            return 1
    try:
        return list_endpoints(_client(args), args.max, out)
    except (ClientError, BotoCoreError) as exc:
        return failed(exc, args.endpoint_url)


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
        shadows = [(v, True) for v in endpoint.get("ShadowProductionVariants", [])]
        for variant, shadow in [(v, False) for v in endpoint.get("ProductionVariants", [])] + shadows:
            statuses = ", ".join(s["Status"] for s in variant.get("VariantStatus", []))
            print(
                f"  {variant['VariantName']:24} "
                f"weight {variant['CurrentWeight']:g}/{variant['DesiredWeight']:g}"
                f"  instances {variant['CurrentInstanceCount']}/{variant['DesiredInstanceCount']}"
                f"{'  shadow' if shadow else ''}{'  ' + statuses if statuses else ''}",
                file=out,
            )
    return 0


def _when(moment: Any) -> str:
    if not isinstance(moment, int | float):
        return "-"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def print_history(answer: dict[str, Any], out: TextIO, *, as_json: bool = False) -> int:
    """The past deployments, oldest first, then the one in flight: a header each, then its timeline."""
    if as_json:
        print(json.dumps(answer, indent=2), file=out)
        return 0
    print(
        f"{answer['EndpointName']}: {answer['EndpointStatus']} on {answer['EndpointConfigName'] or '-'}",
        file=out,
    )
    deployments = list(answer.get("History") or [])
    if answer.get("Deployment"):
        deployments.append(answer["Deployment"])
    if not deployments:
        print("No deployments yet.", file=out)
        return 0
    for number, deployment in enumerate(deployments, 1):
        source = deployment.get("PreviousEndpointConfigName") or "-"
        target = deployment.get("EndpointConfigName") or "-"
        flight = " (in flight)" if deployment is answer.get("Deployment") else ""
        print(
            f"\nDeployment {number} of {len(deployments)}: {source} -> {target}, {deployment['Type']}, "
            f"{deployment['Status']}{flight}",
            file=out,
        )
        if deployment.get("Reason"):
            print(f"  reason: {deployment['Reason']}", file=out)
        for event in deployment.get("Events") or []:
            print(
                f"  {_when(event.get('Time'))}  {event.get('Event', ''):16} {event.get('Message', '')}",
                file=out,
            )
    return 0


def print_control(action: str, answer: dict[str, Any], out: TextIO) -> int:
    deployment = answer.get("Deployment") or {}
    events = deployment.get("Events") or []
    last = events[-1]["Message"] if events else ""
    print(f"{answer['EndpointName']}: deployment {deployment.get('Status', '-')}. {last}".rstrip(), file=out)
    return 0
