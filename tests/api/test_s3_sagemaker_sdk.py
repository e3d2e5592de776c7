"""The SageMaker Python SDK (v2, in its own venv under .cache/) using S3 through the live server.

The SDK would fit .venv's pins (sagemaker 2.257 accepts boto3 1.44.5) but brings ~60 packages
(numpy, pandas, fastapi, …), so it gets its own venv; the script below runs there.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from s3_helpers import tool_env, tool_venv, unique

from sagemill.testing.live_server import LiveServer

ACCOUNT = "444444444444"

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path

    import boto3
    import sagemaker
    from sagemaker.s3 import S3Downloader, S3Uploader

    bucket, region, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    boto_session = boto3.Session(region_name=region)

    # default_bucket given: ListBuckets -> HeadBucket -> CreateBucket (LocationConstraint outside us-east-1).
    named = sagemaker.Session(boto_session=boto_session, default_bucket=bucket)
    assert named.default_bucket() == bucket
    assert boto_session.client("s3").head_bucket(Bucket=bucket)["BucketRegion"] == region

    # A second session finds the bucket it made (HeadBucket with ExpectedBucketOwner, no create).
    assert sagemaker.Session(boto_session=boto_session, default_bucket=bucket).default_bucket() == bucket
    # (Without default_bucket= the SDK asks the real STS endpoint for the account, ignoring
    # AWS_ENDPOINT_URL; that path cannot reach a self-hosted server, so it is not exercised here.)

    source = work / "in"
    source.mkdir()
    (source / "train.csv").write_text("1,2,3\\n4,5,6\\n")
    (source / "big.bin").write_bytes(os.urandom(9 * 1024 * 1024))
    uri = S3Uploader.upload(str(source / "train.csv"), f"s3://{bucket}/data", sagemaker_session=named)
    assert uri == f"s3://{bucket}/data/train.csv", uri
    S3Uploader.upload(str(source / "big.bin"), f"s3://{bucket}/data", sagemaker_session=named)
    listed = sorted(S3Downloader.list(f"s3://{bucket}/data", sagemaker_session=named))
    assert listed == [f"s3://{bucket}/data/big.bin", f"s3://{bucket}/data/train.csv"], listed
    assert S3Downloader.read_file(uri, sagemaker_session=named) == "1,2,3\\n4,5,6\\n"
    target = work / "out"
    S3Downloader.download(f"s3://{bucket}/data", str(target), sagemaker_session=named)
    assert (target / "train.csv").read_text() == "1,2,3\\n4,5,6\\n"
    assert (target / "big.bin").read_bytes() == (source / "big.bin").read_bytes()
    print("sagemaker", sagemaker.__version__, "ok")
    """
)


@pytest.fixture(scope="module")
def sdk_python() -> Path:
    home = tool_venv("sagemaker-sdk", ["sagemaker>=2.200,<3"], ["-c", "import sagemaker"])
    return home / "bin" / "python"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_session_default_bucket_upload_and_download(
    sdk_python: Path, server: LiveServer, tmp_path: Path, region: str
) -> None:
    script = tmp_path / "sdk_s3.py"
    script.write_text(SCRIPT)
    env = tool_env(server, account=ACCOUNT, region=region)
    env["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
    done = subprocess.run(
        [str(sdk_python), str(script), unique("sdk"), region, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-5000:]}\n{server.log()[-3000:]}"
    assert "ok" in done.stdout
