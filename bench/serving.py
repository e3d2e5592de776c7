"""Real-time serving benchmark: HTTP floor vs Sagemill InvokeEndpoint vs MLflow, driven by wrk on 127.0.0.1.

One XGBoost model (breast-cancer data, 30 features, 100 trees, depth 6, 1 OpenMP thread) served by:

  floor     bench/serving_floor.py, a raw ASGI app on uvicorn (uvloop + httptools, 1 worker)
            calling `booster.inplace_predict` on the parsed CSV;
  direct    Sagemill's model-server process itself (`POST /invocations` on its own port), c=1 only,
            to show the gateway's added latency side by side;
  sagemill  `POST /endpoints/<name>/invocations` through `sagemill serve`, one instance;
  mlflow    `mlflow models serve` (1 worker) from its own venv under .cache/mlflow, with a CSV
            header line on each body (MLflow reads `text/csv` with `pandas.read_csv`); skipped with a
            printed reason when it cannot be installed within --mlflow-install-timeout seconds.

Load: wrk (1 thread, keep-alive) at concurrency 1 and 16, with 1 and 100 CSV rows per request; a warm-up
then a measurement per cell. Install wrk with `apt-get install -y wrk` (Debian) if it is missing.

InvokeEndpoint needs a SigV4 `Authorization` header. The server runs in dev auth mode, which accepts any
well-formed signature without checking it, so wrk sends one fixed, pre-computed header (a syntactically
valid SigV4 header with a dummy signature, access key id = the account). A strict-auth server would
refuse it: this benchmark measures the data plane, not signing.

OverheadLatency is read from `GET /_sagemill/invocations` (the in-memory invocation totals: sums, so a
mean) and also measured as Sagemill's p50 minus the model server's own p50 at c=1.

Usage: python bench/serving.py [--seconds 5] [--warmup 2] [--skip-mlflow]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagemill.testing.live_server import LiveServer, free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MLFLOW_VENV = ROOT / ".cache" / "mlflow"
MLFLOW_PACKAGES = ["mlflow-skinny", "xgboost-cpu", "scikit-learn", "pandas", "fastapi", "uvicorn"]
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
ACCOUNT = "123456789012"
# Well-formed SigV4 (dev auth checks the shape and reads the account from the access key id, not the
# signature); the x-amz-date it names is sent too.
AMZ_DATE = "20260101T000000Z"
AUTHORIZATION = (
    f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/us-east-1/sagemaker/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64
)
CONCURRENCY = (1, 16)
ROWS = (1, 100)

# wrk script: POST a body from a file with fixed headers; `done` prints one JSON line with the figures.
WRK_LUA = r"""
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "text/csv"
local extra = os.getenv("BENCH_HEADERS") or ""
for name, value in string.gmatch(extra, "([^\n:]+): ([^\n]+)") do
  wrk.headers[name] = value
end
local bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"socket_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status,
    summary.errors.timeout))
end
"""


@dataclass
class Cell:
    req_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float = float("nan")
    """Server CPU (user + system, all its processes) per request: less sensitive to noisy neighbours."""
    gateway_cpu_us: float = float("nan")
    """Of that, `sagemill serve`'s own (Sagemill rows only): the data plane's cost without the model's."""


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def need_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit(
            "bench/serving.py needs wrk (HTTP load generator): install it with `apt-get install -y wrk`."
        )
    return path


def train(workdir: Path) -> tuple[Any, Path, Any]:
    import numpy as np
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]

    x, y = load_breast_cancer(return_X_y=True)
    params = {"objective": "binary:logistic", "max_depth": 6, "tree_method": "hist", "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=100)
    path = workdir / "model.ubj"
    booster.save_model(path)
    return booster, path, np.asarray(x)


def csv_body(x: Any, rows: int, header: bool) -> bytes:
    lines = [",".join(repr(float(v)) for v in x[i % len(x)]) for i in range(rows)]
    if header:
        lines.insert(0, ",".join(f"f{i}" for i in range(x.shape[1])))
    return ("\n".join(lines) + "\n").encode()


def wait_http(
    url: str, timeout: float, data: bytes | None = None, headers: dict[str, str] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(url, data=data, headers=headers or {})
            with urllib.request.urlopen(request, timeout=2) as reply:
                if reply.status == 200:
                    reply.read()
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {timeout}s")
        time.sleep(0.05)


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def children(pid: int) -> list[int]:
    """pid and its descendants (from /proc), for the RSS of a server that forks."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        found += frontier
    return found


class Wrk:
    def __init__(self, binary: str, workdir: Path, seconds: float, warmup: float) -> None:
        self.binary, self.workdir, self.seconds, self.warmup = binary, workdir, seconds, warmup
        self.script = workdir / "post.lua"
        self.script.write_text(WRK_LUA)

    def run(
        self,
        url: str,
        body: bytes,
        conc: int,
        headers: dict[str, str] | None = None,
        pids: list[int] | None = None,
        gateway_pid: int | None = None,
    ) -> Cell:
        body_path = self.workdir / f"body-{uuid.uuid4().hex[:8]}.csv"
        body_path.write_bytes(body)
        env = {
            **os.environ,
            "BENCH_BODY": str(body_path),
            "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in (headers or {}).items()),
        }
        cmd = [self.binary, "-t1", f"-c{conc}", "--timeout", "10s", "-s", str(self.script)]
        if self.warmup > 0:
            subprocess.run([*cmd, f"-d{round(self.warmup)}s", url], env=env, capture_output=True, check=True)
        gateway = [gateway_pid] if gateway_pid else []
        cpu_before, gateway_before = cpu_seconds(pids or []), cpu_seconds(gateway)
        done = subprocess.run(
            [*cmd, f"-d{round(self.seconds)}s", url], env=env, capture_output=True, text=True
        )
        cpu_used = cpu_seconds(pids or []) - cpu_before
        gateway_used = cpu_seconds(gateway) - gateway_before
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
        if line is None:
            raise RuntimeError(f"wrk failed: {done.stdout}\n{done.stderr}")
        data = json.loads(line[6:])
        non_2xx = 0
        for text in done.stdout.splitlines():
            if "Non-2xx" in text:
                non_2xx = int(text.split(":")[1])
        return Cell(
            data["requests"] / (data["duration_us"] / 1e6),
            data["p50_us"] / 1000,
            data["p99_us"] / 1000,
            data["socket_errors"] + data["timeouts"] + non_2xx,
            cpu_used / data["requests"] * 1e6 if pids and data["requests"] else float("nan"),
            gateway_used / data["requests"] * 1e6 if gateway and data["requests"] else float("nan"),
        )


def sweep(
    wrk: Wrk, url: str, bodies: dict[int, bytes], conc: tuple[int, ...] = CONCURRENCY, **kw: Any
) -> dict[tuple[int, int], Cell]:
    return {(rows, c): wrk.run(url, bodies[rows], c, **kw) for rows in ROWS for c in conc}


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# the servers


def bench_floor(
    wrk: Wrk, model: Path, bodies: dict[int, bytes]
) -> tuple[dict[tuple[int, int], Cell], dict[str, float]]:
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FLOOR_MODEL": str(model)}
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(HERE),
        "serving_floor:app",
        "--host",
        "127.0.0.1",
    ]
    cmd += ["--port", str(port), "--loop", "uvloop", "--http", "httptools", "--workers", "1"]
    cmd += ["--log-level", "warning", "--no-access-log"]
    started = time.monotonic()
    process = subprocess.Popen(cmd, env=env)
    try:
        url = f"http://127.0.0.1:{port}/invocations"
        wait_http(url, 30, data=bodies[1], headers={"content-type": "text/csv"})
        extra = {"start_s": time.monotonic() - started, "rss_mib": rss_mib([process.pid])}
        return sweep(wrk, url, bodies, pids=[process.pid]), extra
    finally:
        stop(process)


def _archive(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def instance_workers(data_dir: Path) -> list[tuple[int, int]]:
    """(pid, port) of each running model-server instance, from the executor's worker records."""
    found = []
    for worker in sorted(data_dir.glob("endpoints/*/*/*/instances/*/worker")):
        if (worker / "exit.json").exists() or not (worker / "worker.json").exists():
            continue
        pid = int(json.loads((worker / "worker.json").read_text())["pid"])
        argv = json.loads((worker / "spec.json").read_text())["argv"]
        found.append((pid, int(argv[argv.index("--port") + 1])))
    return found


def overhead_totals(url: str) -> tuple[int, int]:
    """(invocations, OverheadLatency sum µs) over every endpoint, from /_sagemill/invocations."""
    with urllib.request.urlopen(f"{url}/_sagemill/invocations", timeout=5) as reply:
        rows = json.loads(reply.read())["invocations"]
    return sum(r["Invocations"] for r in rows), sum(r["OverheadLatencySumMicroseconds"] for r in rows)


def bench_sagemill(
    wrk: Wrk, model: Path, bodies: dict[int, bytes], workdir: Path
) -> tuple[dict[tuple[int, int], Cell], dict[str, Any]]:
    server = LiveServer(workdir / "sagemill").start()
    try:
        s3 = server.client("s3", account=ACCOUNT)
        sm = server.client("sagemaker", account=ACCOUNT)
        s3.create_bucket(Bucket="bench-models")
        s3.put_object(
            Bucket="bench-models", Key="xgb/model.tar.gz", Body=_archive("xgboost-model", model.read_bytes())
        )
        sm.create_model(
            ModelName="bench-xgb",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": "s3://bench-models/xgb/model.tar.gz"},
        )
        sm.create_endpoint_config(
            EndpointConfigName="bench-xgb",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "bench-xgb",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
        )
        started = time.monotonic()
        sm.create_endpoint(EndpointName="bench-xgb", EndpointConfigName="bench-xgb")
        while (status := sm.describe_endpoint(EndpointName="bench-xgb")["EndpointStatus"]) not in (
            "InService",
            "Failed",
        ):
            if time.monotonic() - started > 120:
                raise RuntimeError("the endpoint did not reach InService in 120 s")
            time.sleep(0.02)
        in_service = time.monotonic() - started
        if status != "InService":
            raise RuntimeError(
                f"endpoint failed: {sm.describe_endpoint(EndpointName='bench-xgb').get('FailureReason')}"
            )
        [(pid, port)] = instance_workers(server.data_dir)
        headers = {"Authorization": AUTHORIZATION, "X-Amz-Date": AMZ_DATE, "Accept": "text/csv"}
        url = f"{server.url}/endpoints/bench-xgb/invocations"
        wait_http(url, 10, data=bodies[1], headers={**headers, "content-type": "text/csv"})
        extra: dict[str, Any] = {"in_service_s": in_service, "rss_mib": rss_mib([pid])}
        both = [server.process.pid, pid] if server.process else [pid]
        direct_url = f"http://127.0.0.1:{port}/invocations"
        direct = sweep(wrk, direct_url, bodies, conc=(1,), headers={"Accept": "text/csv"}, pids=[pid])
        extra["direct"] = direct
        cells: dict[tuple[int, int], Cell] = {}
        overhead: dict[tuple[int, int], float] = {}
        for rows in ROWS:
            for c in CONCURRENCY:
                # The recorder's sums include wrk's warm-up; the mean over warm-up + run is what CloudWatch's
                # Average would show for the period.
                before = overhead_totals(server.url)
                cells[(rows, c)] = wrk.run(
                    url,
                    bodies[rows],
                    c,
                    headers=headers,
                    pids=both,
                    gateway_pid=server.process.pid if server.process else None,
                )
                after = overhead_totals(server.url)
                count = after[0] - before[0]
                overhead[(rows, c)] = (after[1] - before[1]) / count / 1000 if count else float("nan")
        extra["overhead_mean_ms"] = overhead
        extra["rss_after_mib"] = rss_mib([pid])
        extra["gateway_rss_mib"] = rss_mib([server.process.pid]) if server.process else float("nan")
        return cells, extra
    finally:
        # Instances outlive the server by design: delete the endpoint first, then end what is left.
        with contextlib.suppress(Exception):
            server.client("sagemaker", account=ACCOUNT).delete_endpoint(EndpointName="bench-xgb")
            deadline = time.monotonic() + 15
            while instance_workers(server.data_dir) and time.monotonic() < deadline:
                time.sleep(0.1)
        server.stop()
        for leftover, _ in instance_workers(server.data_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)


def ensure_mlflow(timeout: float) -> str | None:
    """The MLflow venv's python, installing it when missing; None (with the reason printed) on failure."""
    python = MLFLOW_VENV / "bin" / "python"
    check = [str(python), "-c", "import mlflow.pyfunc.scoring_server, xgboost, pandas, uvicorn"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return str(python)
    print(f"installing MLflow into {MLFLOW_VENV} (pip install {' '.join(MLFLOW_PACKAGES)}) ...", flush=True)
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True, timeout=120)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *MLFLOW_PACKAGES], check=True, timeout=timeout
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"SKIP mlflow: could not install it within {timeout:.0f}s: {exc}", flush=True)
        return None
    done = subprocess.run(check, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"SKIP mlflow: installed but does not import: {done.stderr.strip()[-300:]}", flush=True)
        return None
    return str(python)


def bench_mlflow(
    python: str, wrk: Wrk, model: Path, bodies: dict[int, bytes], workdir: Path
) -> tuple[dict[tuple[int, int], Cell], dict[str, float]]:
    model_dir = workdir / "mlflow-model"
    save = (
        "import sys, xgboost as xgb, mlflow.xgboost\n"
        "b = xgb.Booster(model_file=sys.argv[1])\n"
        "mlflow.xgboost.save_model(b, sys.argv[2])\n"
    )
    subprocess.run([python, "-c", save, str(model), str(model_dir)], check=True, capture_output=True)
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": f"file://{workdir}/mlruns"}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{Path(python).parent}:{env.get('PATH', '')}"
    cmd = [
        str(Path(python).parent / "mlflow"),
        "models",
        "serve",
        "-m",
        str(model_dir),
        "--env-manager",
        "local",
    ]
    cmd += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    started = time.monotonic()
    log = (workdir / "mlflow.log").open("wb")
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/invocations"
        wait_http(url, 90, data=bodies[1], headers={"content-type": "text/csv"})
        extra = {"start_s": time.monotonic() - started, "rss_mib": rss_mib(children(process.pid))}
        return sweep(wrk, url, bodies, pids=children(process.pid)), extra
    finally:
        # The CLI starts uvicorn as a child: end the whole session it leads (ours alone).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# report


def fmt(cell: Cell) -> str:
    return f"{cell.req_s:9.0f} {cell.p50_ms:8.2f} {cell.p99_ms:8.2f} {cell.cpu_us:9.0f} {cell.errors:6d}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=5, help="measured seconds per cell")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per cell")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--mlflow-install-timeout", type=float, default=240.0)
    parser.add_argument("--only", choices=("floor", "sagemill", "mlflow"), action="append")
    args = parser.parse_args()
    binary = need_wrk()
    only = set(args.only or ("floor", "sagemill", "mlflow"))
    with tempfile.TemporaryDirectory(prefix="sagemill-bench-") as tmp:
        workdir = Path(tmp)
        _, model, x = train(workdir)
        plain = {rows: csv_body(x, rows, header=False) for rows in ROWS}
        headed = {rows: csv_body(x, rows, header=True) for rows in ROWS}
        wrk = Wrk(binary, workdir, args.seconds, args.warmup)
        results: dict[str, dict[tuple[int, int], Cell]] = {}
        floor_extra: dict[str, float] = {}
        sm_extra: dict[str, Any] = {}
        ml_extra: dict[str, float] = {}
        if "floor" in only:
            print("floor ...", flush=True)
            results["floor"], floor_extra = bench_floor(wrk, model, plain)
        if "sagemill" in only:
            print("sagemill ...", flush=True)
            results["sagemill"], sm_extra = bench_sagemill(wrk, model, plain, workdir)
            results["direct"] = sm_extra.pop("direct")
        if "mlflow" in only:
            python = None
            if args.skip_mlflow:
                print("SKIP mlflow: --skip-mlflow", flush=True)
            else:
                python = ensure_mlflow(args.mlflow_install_timeout)
            if python is not None:
                print("mlflow ...", flush=True)
                try:
                    results["mlflow"], ml_extra = bench_mlflow(python, wrk, model, headed, workdir)
                except (RuntimeError, subprocess.SubprocessError) as exc:
                    print(f"SKIP mlflow: it did not serve: {exc}", flush=True)

    print(
        f"\nwrk 1 thread, keep-alive, {args.warmup:g} s warm-up + {args.seconds:g} s per cell; "
        f"host {os.cpu_count()} CPUs"
    )
    print(
        f"{'server':9} {'rows':>4} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU us/req':>9} {'errors':>6}"
    )
    for name in ("floor", "direct", "sagemill", "mlflow"):
        for rows in ROWS:
            for c in CONCURRENCY:
                cell = results.get(name, {}).get((rows, c))
                if cell is not None:
                    print(f"{name:9} {rows:4d} {c:4d} {fmt(cell)}")
    floor, sm, ml, direct = (results.get(k, {}) for k in ("floor", "sagemill", "mlflow", "direct"))
    print()
    checks: list[tuple[str, str, bool | None]] = []
    for rows in ROWS:
        if floor and sm:
            ratio = sm[(rows, 16)].req_s / floor[(rows, 16)].req_s
            checks.append((f"Sagemill/floor req/s, {rows} row(s), c=16", f"{ratio:.2f}", ratio >= 0.35))
            gap = sm[(rows, 1)].p99_ms - floor[(rows, 1)].p99_ms
            checks.append((f"p99 c=1 Sagemill - floor, {rows} row(s)", f"{gap:+.2f} ms", gap <= 2.0))
        if sm and ml:
            for c in CONCURRENCY:
                ratio = sm[(rows, c)].req_s / ml[(rows, c)].req_s
                checks.append((f"Sagemill/MLflow req/s, {rows} row(s), c={c}", f"{ratio:.1f}x", ratio >= 10))
        if sm and direct:
            gap = sm[(rows, 1)].p50_ms - direct[(rows, 1)].p50_ms
            checks.append(
                (f"p50 c=1 Sagemill - model server direct, {rows} row(s)", f"{gap:.2f} ms", gap <= 1.0)
            )
    if sm_extra:
        for (rows, c), cell in sm.items():
            checks.append(
                (
                    f"gateway (sagemill serve) CPU per request, {rows} row(s), c={c}",
                    f"{cell.gateway_cpu_us:.0f} us",
                    None,
                )
            )
        for (rows, c), mean in sm_extra["overhead_mean_ms"].items():
            checks.append(
                (
                    f"OverheadLatency mean (recorder), {rows} row(s), c={c}",
                    f"{mean:.3f} ms",
                    mean <= 1.0 if c == 1 else None,
                )
            )
        checks.append(
            (
                "model server RSS (after load)",
                f"{sm_extra['rss_after_mib']:.0f} MiB",
                sm_extra["rss_after_mib"] <= 150,
            )
        )
        checks.append(
            ("create -> InService", f"{sm_extra['in_service_s']:.2f} s", sm_extra["in_service_s"] <= 3.0)
        )
        checks.append(("gateway (sagemill serve) RSS", f"{sm_extra['gateway_rss_mib']:.0f} MiB", None))
    if floor_extra:
        checks.append(
            ("floor start / RSS", f"{floor_extra['start_s']:.2f} s / {floor_extra['rss_mib']:.0f} MiB", None)
        )
    if ml_extra:
        checks.append(
            (
                "MLflow start / RSS (all processes)",
                f"{ml_extra['start_s']:.2f} s / {ml_extra['rss_mib']:.0f} MiB",
                None,
            )
        )
    for label, value, ok in checks:
        mark = "" if ok is None else ("  ok" if ok else "  MISS")
        print(f"{label:55} {value:>16}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
