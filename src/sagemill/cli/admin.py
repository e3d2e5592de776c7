"""`sagemill admin create-account | create-access-key`: issue tenants and their credentials."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sagemill.config import Settings
from sagemill.security.credentials import CredentialError, create_access_key, create_account
from sagemill.security.keyring import Keyring, KeyringError
from sagemill.store.base import Store


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="admin_command", required=True)
    account = commands.add_parser("create-account", help="create an account (a tenant); prints its id")
    account.add_argument("--account-id", help="12 digits; drawn at random when omitted")
    account.add_argument("--name", help="a label for people (default account-<id>)")
    key = commands.add_parser(
        "create-access-key", help="issue an access key pair; the secret is printed once, never again"
    )
    key.add_argument("--account-id", required=True)
    key.add_argument("--user-name", default="", help="an IAM-style user name (default: the account root)")
    for sub in (account, key):
        # Also accepted after the subcommand; SUPPRESS keeps a value given before it.
        sub.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sub.add_argument("--database-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from sagemill.app import open_store
    from sagemill.cli.main import redact
    from sagemill.store.sql.migrate import current_revision, head_revision

    store = open_store(settings)
    try:
        current, head = current_revision(store.engine), head_revision()
        if current != head:
            return _fail(
                f"the database {redact(settings.resolved_database_url)} is not migrated "
                f"(revision {current or 'none'}, need {head}); run `sagemill migrate` first "
                "(with the same --data-dir/--database-url).",
                code=2,
            )
        if args.admin_command == "create-account":
            return _create_account(store, args)
        return _create_access_key(store, settings, args)
    finally:
        store.close()


def _create_account(store: Store, args: argparse.Namespace) -> int:
    try:
        account = create_account(store, time.time, args.account_id, args.name)
    except CredentialError as exc:
        return _fail(str(exc))
    print(account.account_id)
    return 0


def _create_access_key(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    try:
        keyring = Keyring.load_or_create(settings.data_dir)
        issued = create_access_key(store, keyring, time.time, args.account_id, args.user_name)
    except (CredentialError, KeyringError) as exc:
        return _fail(str(exc))
    key = issued.key
    # The shape of `aws iam create-access-key`, plus the account, so scripts can read it the same way.
    document = {
        "AccessKey": {
            "AccountId": key.account_id,
            "UserName": key.user_name,
            "AccessKeyId": key.access_key_id,
            "Status": key.status,
            "SecretAccessKey": issued.secret_access_key,
            "CreateDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(key.created_at)),
        }
    }
    print(json.dumps(document, indent=2))
    print(
        "Store the secret access key now: Sagemill keeps only a sealed copy and cannot show it again.",
        file=sys.stderr,
    )
    return 0


def _fail(message: str, code: int = 1) -> int:
    print(f"sagemill admin: {message}", file=sys.stderr)
    return code
