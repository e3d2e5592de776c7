"""A minimal `/opt/ml`-style job directory and SM_* environment to run algorithm runners as subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sagemill.executors.algorithms.job import Job


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    failure: str | None

    @property
    def log_lines(self) -> list[str]:
        return escaped_lines(self.stdout + self.stderr)

    def metric_values(self, definitions: list[dict[str, str]]) -> dict[str, list[float]]:
        return metric_values(self.log_lines, definitions)


def escaped_lines(text: str) -> list[str]:
    """Output lines as CloudWatch stores them: control characters escaped syslog-style (TAB → #011)."""
    return [line.replace("\t", "#011") for line in text.splitlines()]


def metric_values(lines: list[str], definitions: list[dict[str, str]]) -> dict[str, list[float]]:
    """Every value each MetricDefinition's regex captures from the (escaped) lines, as the service scans."""
    found: dict[str, list[float]] = {}
    for definition in definitions:
        pattern = re.compile(definition["Regex"])
        for line in lines:
            match = pattern.search(line)
            if match:
                with contextlib.suppress(ValueError):  # the service drops non-numeric captures too
                    found.setdefault(definition["Name"], []).append(float(match.group(1)))
    return found


@dataclass
class JobDir:
    root: Path
    hyperparameters: dict[str, str] = field(default_factory=dict)
    content_types: dict[str, str | None] = field(default_factory=dict)
    checkpoints: bool = False
    hosts: list[str] = field(default_factory=lambda: ["algo-1"])
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoints"

    def channel_dir(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    def add_file(self, channel: str, relative: str, content: str | bytes) -> Path:
        path = self.channel_dir(channel) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        self.content_types.setdefault(channel, None)
        return path

    def add_channel(self, channel: str, content_type: str | None = None) -> Path:
        self.channel_dir(channel).mkdir(parents=True, exist_ok=True)
        self.content_types[channel] = content_type
        return self.channel_dir(channel)

    def write(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        for directory in (self.model_dir, self.output_dir / "data", self.code_dir):
            directory.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "hyperparameters.json").write_text(json.dumps(self.hyperparameters))
        data_config = {}
        for name, content_type in self.content_types.items():
            entry = {
                "TrainingInputMode": "File",
                "S3DistributionType": "FullyReplicated",
                "RecordWrapperType": "None",
            }
            if content_type:
                entry["ContentType"] = content_type
            data_config[name] = entry
        (self.config_dir / "inputdataconfig.json").write_text(json.dumps(data_config))
        resource = {"current_host": self.hosts[0], "hosts": self.hosts, "network_interface_name": "eth0"}
        (self.config_dir / "resourceconfig.json").write_text(json.dumps(resource))
        if self.checkpoints:
            checkpoint_config = {"LocalPath": str(self.checkpoint_dir), "S3Uri": "s3://bucket/checkpoints"}
            (self.config_dir / "checkpointconfig.json").write_text(json.dumps(checkpoint_config))

    def env(self) -> dict[str, str]:
        """Only the container contract (plus PATH/HOME): runners must not depend on anything else."""
        channels = sorted(self.content_types)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "SAGEMAKER_BASE_DIR": str(self.root),
            "TRAINING_JOB_NAME": "test-job",
            "SM_INPUT_DIR": str(self.root / "input"),
            "SM_INPUT_CONFIG_DIR": str(self.config_dir),
            "SM_INPUT_DATA_DIR": str(self.root / "input" / "data"),
            "SM_MODEL_DIR": str(self.model_dir),
            "SM_OUTPUT_DIR": str(self.output_dir),
            "SM_OUTPUT_DATA_DIR": str(self.output_dir / "data"),
            "SM_NUM_CPUS": "2",
            "SM_NUM_GPUS": "0",
            "SM_CURRENT_HOST": self.hosts[0],
            "SM_HOSTS": json.dumps(self.hosts),
            "SM_CHANNELS": json.dumps(channels),
        }
        for name in channels:
            env[f"SM_CHANNEL_{name.upper()}"] = str(self.channel_dir(name))
        if self.checkpoints:
            env["SM_CHECKPOINT_CONFIG_FILE"] = str(self.config_dir / "checkpointconfig.json")
        env.update(self.extra_env)
        return env

    def command(self, module: str, *args: str) -> list[str]:
        return [sys.executable, "-m", module, *args]

    def run(self, module: str, *args: str, timeout: float = 120) -> RunResult:
        self.write()
        completed = subprocess.run(
            self.command(module, *args),
            env=self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return self.result(completed.returncode, completed.stdout, completed.stderr)

    def start(self, module: str, *args: str) -> subprocess.Popen[str]:
        self.write()
        return subprocess.Popen(
            self.command(module, *args),
            env=self.env(),
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def result(self, returncode: int, stdout: str, stderr: str) -> RunResult:
        failure_path = self.output_dir / "failure"
        failure = failure_path.read_text() if failure_path.exists() else None
        return RunResult(returncode, stdout, stderr, failure)


def wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float = 60) -> list[str]:
    """Read the process's output until a line containing `needle`; returns the lines read."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never printed; output:\n{''.join(lines)}")


def terminate(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    return process.returncode, rest


def csv_text(rows: list[list[float]], delimiter: str = ",") -> str:
    return "".join(delimiter.join(repr(float(v)) for v in row) + "\n" for row in rows)


def job_for(job_dir: JobDir) -> Job:
    """The in-process view of the job, to call a runner's `main` directly (fast error-path tests)."""
    job_dir.write()
    return Job.from_environ(job_dir.env())
