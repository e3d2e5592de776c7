"""Object throughput: PutObject/GetObject of a small and a large object through boto3, in one run.

Sagemill's live server (filesystem object store) beside moto's server as a peer, and beside a plain
file copy of the same bytes on the same disk (shutil.copyfile, and the same followed by fsync, since
Sagemill fsyncs every object before acknowledging it). Prints MB/s, ratios, and the Sagemill
server's peak RSS (sampled from /proc/<pid>/status) during the large transfers.

Targets: large-object throughput >= 50% of the plain copy; server RSS < 200 MiB during the large transfer.
Usage: python bench/objects.py [--large-mib 512] [--small-repeat 30] [--rounds 2] [--no-moto]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sagemill.testing.live_server import LiveServer, free_port

MiB = 1024 * 1024
RSS_TARGET_MIB = 200
THROUGHPUT_TARGET = 0.5

MOTO = """
import sys, time
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
while True:
    time.sleep(3600)
"""


def start_moto(port: int) -> subprocess.Popen[bytes]:
    # In its own process, as Sagemill is: a server thread inside the benchmark would share its GIL.
    process = subprocess.Popen([sys.executable, "-c", MOTO, str(port)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto server did not start")


def s3_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="123456789012",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}),
    )


@dataclass
class RssSampler:
    """Samples a process's VmRSS every 10 ms while running; `peak_mib` is the highest seen."""

    pid: int
    peak_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _read(self, field_name: str) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(field_name):
                    return int(line.split()[1])
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_kib = max(self.peak_kib, self._read("VmRSS:"))
            except OSError:
                return
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024

    def high_water_mib(self) -> float:
        return self._read("VmHWM:") / 1024


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def make_file(path: Path, size: int) -> None:
    block = os.urandom(16 * MiB)
    with path.open("wb") as out:
        left = size
        while left:
            piece = block[: min(len(block), left)]
            out.write(piece)
            left -= len(piece)


def plain_copy(source: Path, target: Path, *, fsync: bool) -> float:
    def copy() -> None:
        shutil.copyfile(source, target)
        if fsync:
            with target.open("rb+") as handle:
                os.fsync(handle.fileno())

    seconds = timed(copy)
    target.unlink()
    return seconds


def put_file(client: Any, bucket: str, key: str, source: Path) -> None:
    with source.open("rb") as body:
        client.put_object(Bucket=bucket, Key=key, Body=body)


def get_discard(client: Any, bucket: str, key: str) -> int:
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    return sum(len(chunk) for chunk in body.iter_chunks(MiB))


def mbps(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-mib", type=int, default=512)
    parser.add_argument("--small-repeat", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2, help="large transfers per target; the best is kept")
    parser.add_argument("--no-moto", action="store_true")
    args = parser.parse_args()
    large = args.large_mib * MiB

    work = Path(tempfile.mkdtemp(prefix="sagemill-bench-"))
    sagemill = LiveServer(work / "sagemill").start()
    moto = None if args.no_moto else start_moto(moto_port := free_port())
    try:
        source = work / "large.bin"
        make_file(source, large)
        small = os.urandom(MiB)
        copy_s = min(plain_copy(source, work / "copy.bin", fsync=False) for _ in range(args.rounds))
        synced_s = min(plain_copy(source, work / "copy.bin", fsync=True) for _ in range(args.rounds))
        targets: dict[str, Any] = {"sagemill": s3_client(sagemill.url)}
        if moto is not None:
            targets["moto"] = s3_client(f"http://127.0.0.1:{moto_port}")
        results: dict[str, dict[str, float]] = {}
        peak_rss = 0.0
        for name, client in targets.items():
            client.create_bucket(Bucket="bench")
            row: dict[str, float] = {}
            small_put = timed(
                lambda c=client: [
                    c.put_object(Bucket="bench", Key="small", Body=small) for _ in range(args.small_repeat)
                ]
            )
            small_get = timed(
                lambda c=client: [get_discard(c, "bench", "small") for _ in range(args.small_repeat)]
            )
            row["small_put"] = mbps(MiB * args.small_repeat, small_put)
            row["small_get"] = mbps(MiB * args.small_repeat, small_get)
            sampler = RssSampler(sagemill.process.pid) if name == "sagemill" and sagemill.process else None
            puts, gets = [], []
            for _ in range(args.rounds):
                if sampler is not None:
                    with sampler:
                        puts.append(timed(lambda c=client: put_file(c, "bench", "large", source)))
                        gets.append(timed(lambda c=client: get_discard(c, "bench", "large")))
                else:
                    puts.append(timed(lambda c=client: put_file(c, "bench", "large", source)))
                    gets.append(timed(lambda c=client: get_discard(c, "bench", "large")))
            assert get_discard(client, "bench", "large") == large
            row["large_put"] = mbps(large, min(puts))
            row["large_get"] = mbps(large, min(gets))
            if sampler is not None:
                peak_rss = sampler.peak_mib
            results[name] = row

        copy_mbps, synced_mbps = mbps(large, copy_s), mbps(large, synced_s)
        sizes = f"1 MiB x {args.small_repeat} and {args.large_mib} MiB (best of {args.rounds})"
        print(f"Objects: {sizes}, boto3 over HTTP")
        print(f"plain copy (shutil.copyfile)         {copy_mbps:9.1f} MB/s")
        print(f"plain copy + fsync                   {synced_mbps:9.1f} MB/s")
        print(f"{'':12}{'1 MiB put':>12}{'1 MiB get':>12}{'large put':>12}{'large get':>12}   MB/s")
        for name, row in results.items():
            cells = "".join(f"{row[k]:12.1f}" for k in ("small_put", "small_get", "large_put", "large_get"))
            print(f"{name:12}{cells}")
        ours = results["sagemill"]
        print("ratios (Sagemill large / …)")
        for label, base in (("plain copy", copy_mbps), ("copy + fsync", synced_mbps)):
            print(
                f"  vs {label:13} put {ours['large_put'] / base:6.2f}   get {ours['large_get'] / base:6.2f}"
            )
        if "moto" in results:
            peer = results["moto"]
            print(
                f"  vs {'moto':13} put {ours['large_put'] / peer['large_put']:6.2f}   "
                f"get {ours['large_get'] / peer['large_get']:6.2f}   "
                f"(1 MiB: put {ours['small_put'] / peer['small_put']:.2f}, "
                f"get {ours['small_get'] / peer['small_get']:.2f})"
            )
        print(f"Sagemill server peak RSS during the {args.large_mib} MiB transfers: {peak_rss:.1f} MiB")
        verdicts = {
            f"large get >= {THROUGHPUT_TARGET:.0%} of plain copy": ours["large_get"]
            >= THROUGHPUT_TARGET * copy_mbps,
            f"large put >= {THROUGHPUT_TARGET:.0%} of plain copy": ours["large_put"]
            >= THROUGHPUT_TARGET * copy_mbps,
            f"server RSS < {RSS_TARGET_MIB} MiB": peak_rss < RSS_TARGET_MIB,
        }
        for label, ok in verdicts.items():
            print(f"  {'PASS' if ok else 'MISS'}  {label}")
        return 0
    finally:
        sagemill.stop()
        if moto is not None:
            moto.kill()
            moto.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
