"""The AWS CLI (v1, in its own venv under .cache/: it pins its own botocore) against the live server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from s3_helpers import OWNER, tool_env, tool_venv, unique

from sagemill.testing.live_server import LiveServer

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def aws() -> Path:
    home = tool_venv("awscli", ["awscli>=1.40,<2"], ["-m", "awscli", "--version"])
    return home / "bin" / "aws"


def run(aws: Path, server: LiveServer, *args: str) -> str:
    done = subprocess.run(
        [str(aws), *args],
        env=tool_env(server, account=OWNER),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"aws {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_cp_ls_sync_and_rb(aws: Path, server: LiveServer, tmp_path: Path) -> None:
    bucket = unique("cli")
    run(aws, server, "s3", "mb", f"s3://{bucket}")
    small = tmp_path / "small.txt"
    small.write_text("hello from the aws cli\n")
    large = tmp_path / "large.bin"
    large.write_bytes(os.urandom(9 * MiB))  # past the CLI's 8 MiB multipart threshold
    run(aws, server, "s3", "cp", str(small), f"s3://{bucket}/docs/small.txt")
    run(aws, server, "s3", "cp", str(large), f"s3://{bucket}/blobs/large.bin")

    listing = run(aws, server, "s3", "ls", f"s3://{bucket}/")
    assert "PRE docs/" in listing and "PRE blobs/" in listing
    recursive = run(aws, server, "s3", "ls", "--recursive", f"s3://{bucket}/")
    assert "docs/small.txt" in recursive and str(9 * MiB) in recursive
    assert bucket in run(aws, server, "s3", "ls")

    copied = tmp_path / "back.bin"
    run(aws, server, "s3", "cp", f"s3://{bucket}/blobs/large.bin", str(copied))
    assert copied.read_bytes() == large.read_bytes()

    tree = tmp_path / "tree"
    for relative, content in {"a.txt": "a", "sub/b.txt": "bb", "sub/deeper/c.txt": "ccc"}.items():
        target = tree / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    run(aws, server, "s3", "sync", str(tree), f"s3://{bucket}/tree/")
    again = run(aws, server, "s3", "sync", str(tree), f"s3://{bucket}/tree/")
    assert "upload:" not in again  # nothing changed: sync compares sizes and times and sends nothing
    mirror = tmp_path / "mirror"
    run(aws, server, "s3", "sync", f"s3://{bucket}/tree/", str(mirror))
    assert sorted(p.relative_to(mirror).as_posix() for p in mirror.rglob("*") if p.is_file()) == [
        "a.txt",
        "sub/b.txt",
        "sub/deeper/c.txt",
    ]
    assert (mirror / "sub" / "deeper" / "c.txt").read_text() == "ccc"

    api = run(aws, server, "s3api", "head-object", "--bucket", bucket, "--key", "docs/small.txt")
    assert '"ContentLength": 23' in api
    run(aws, server, "s3", "rb", "--force", f"s3://{bucket}")
    assert bucket not in run(aws, server, "s3", "ls")
