"""`sagemill jobs list | follow NAME`: watch training jobs through the server's own AWS API."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from sagemill.cli.remote import add_server_options, failed, session

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
ENDED = ("Completed", "Failed", "Stopped")


def add_commands(parser: argparse.ArgumentParser) -> None:
    add_server_options(parser)
    commands = parser.add_subparsers(dest="jobs_command", required=True)
    listing = commands.add_parser("list", help="recent training jobs with their status")
    listing.add_argument("--max", type=int, default=20)
    follow = commands.add_parser("follow", help="a live status line and the job's logs until it ends")
    follow.add_argument("name")
    follow.add_argument("--interval", type=float, default=1.0)


def _clients(args: argparse.Namespace) -> tuple[Any, Any]:
    boto = session(args)
    return (
        boto.client("sagemaker", endpoint_url=args.endpoint_url),
        boto.client("logs", endpoint_url=args.endpoint_url),
    )


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    sagemaker, logs = _clients(args)
    try:
        if args.jobs_command == "list":
            return list_jobs(sagemaker, args.max, out)
        return follow(sagemaker, logs, args.name, args.interval, out)
    except (ClientError, BotoCoreError) as exc:
        return failed(exc, args.endpoint_url)


def list_jobs(sagemaker: Any, limit: int, out: TextIO) -> int:
    jobs = sagemaker.list_training_jobs(MaxResults=min(max(limit, 1), 100))["TrainingJobSummaries"]
    print(f"{'NAME':40} {'STATUS':11} {'SECONDARY':20} CREATED", file=out)
    for job in jobs:
        created = job["CreationTime"].strftime("%Y-%m-%d %H:%M:%S")
        secondary = job.get("SecondaryStatus", "")
        print(f"{job['TrainingJobName']:40} {job['TrainingJobStatus']:11} {secondary:20} {created}", file=out)
    return 0


def follow(sagemaker: Any, logs: Any, name: str, interval: float, out: TextIO) -> int:
    """Print status changes and new log lines until the job ends; exit 0 only if it Completed."""
    last_status = ""
    token: str | None = None
    stream: str | None = None
    while True:
        job = sagemaker.describe_training_job(TrainingJobName=name)
        status = f"{job['TrainingJobStatus']} / {job['SecondaryStatus']}"
        if status != last_status:
            transitions = job.get("SecondaryStatusTransitions") or [{}]
            print(f"[{status}] {transitions[-1].get('StatusMessage', '')}", file=out, flush=True)
            last_status = status
        if stream is None:
            found = (
                logs.describe_log_streams(
                    logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/", orderBy="LogStreamName"
                ).get("logStreams", [])
                if _group_exists(logs)
                else []
            )
            stream = found[0]["logStreamName"] if found else None
        if stream is not None:
            token = _print_new_events(logs, stream, token, out)
        if job["TrainingJobStatus"] in ENDED:
            if job.get("FailureReason"):
                print(f"FailureReason: {job['FailureReason']}", file=out)
            for metric in job.get("FinalMetricDataList", []):
                print(f"{metric['MetricName']} = {metric['Value']}", file=out)
            return 0 if job["TrainingJobStatus"] == "Completed" else 1
        time.sleep(interval)


def _group_exists(logs: Any) -> bool:
    groups = logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
    return any(g["logGroupName"] == LOG_GROUP for g in groups)


def _print_new_events(logs: Any, stream: str, token: str | None, out: TextIO) -> str | None:
    while True:
        kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": stream, "startFromHead": True}
        if token:
            kwargs["nextToken"] = token
        page = logs.get_log_events(**kwargs)
        for event in page["events"]:
            print(event["message"].replace("#011", "\t"), file=out, flush=True)
        if page["nextForwardToken"] == token or not page["events"]:
            return str(page["nextForwardToken"])
        token = page["nextForwardToken"]
