"""`sagemill admin`: manage accounts and access keys (placeholder until strict auth lands)."""

from __future__ import annotations

import argparse

from sagemill.config import Settings


def add_commands(parser: argparse.ArgumentParser) -> None:
    parser.add_subparsers(dest="admin_command", required=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return 2
