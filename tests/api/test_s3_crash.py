"""SIGKILL mid-upload: after a restart each key holds its old object or nothing, never a torn one."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from s3_helpers import request_head, signed, wait_until

from sagemill.testing.live_server import LiveServer

MiB = 1024 * 1024
UPLOAD_SIZE = 200 * MiB


def _stream_upload(server: LiveServer, path: str, stop: threading.Event) -> None:
    """PUT UPLOAD_SIZE bytes, generated as they are sent, until the socket dies or `stop` is set."""
    block = hashlib.sha256(path.encode()).digest() * (MiB // 32)
    url = f"{server.url}{path}"
    headers = signed("PUT", url, {"Content-Length": str(UPLOAD_SIZE)}, payload="UNSIGNED-PAYLOAD")
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(request_head("PUT", url, headers))
            for _ in range(UPLOAD_SIZE // MiB):
                if stop.is_set():
                    return
                sock.sendall(block)
    except OSError:
        return  # the server was killed under us: exactly the point


def _stored_bytes(data_dir: Path) -> int:
    """Bytes under the object store's folder, whatever its layout (blobs, spool, catalog)."""
    return sum(entry.stat().st_size for entry in (data_dir / "objects").rglob("*") if entry.is_file())


def test_sigkill_mid_upload_leaves_old_objects_intact(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir).start()
    stop = threading.Event()
    try:
        s3 = server.client("s3")
        s3.create_bucket(Bucket="crash")
        old = os.urandom(3 * MiB + 17)
        s3.put_object(Bucket="crash", Key="existing", Body=old)
        uploads = [
            threading.Thread(target=_stream_upload, args=(server, path, stop), daemon=True)
            for path in ("/crash/existing", "/crash/fresh")
        ]
        for upload in uploads:
            upload.start()
        # Kill only once the store has written well into the bodies.
        before = _stored_bytes(data_dir)
        assert wait_until(lambda: _stored_bytes(data_dir) > before + 40 * MiB, timeout=60), server.log()[
            -3000:
        ]
        server.kill()
        assert server.process is not None and server.process.returncode == -9
        stop.set()
        for upload in uploads:
            upload.join(30)
    finally:
        stop.set()
        server.stop()

    restarted = LiveServer(data_dir).start()
    try:
        s3 = restarted.client("s3")
        got = s3.get_object(Bucket="crash", Key="existing")
        assert got["Body"].read() == old
        assert got["ETag"] == f'"{hashlib.md5(old).hexdigest()}"'
        with pytest.raises(ClientError) as caught:
            s3.head_object(Bucket="crash", Key="fresh")
        assert caught.value.response["Error"]["Code"] == "404"
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="crash")["Contents"]] == ["existing"]
        # Start-up collected the half-written bodies: what is left is the old object and the catalog.
        assert _stored_bytes(data_dir) < before + 2 * MiB
    finally:
        restarted.stop()
