"""The job a runner sees: the SageMaker container contract read from its environment, and its exit protocol.

A runner reads only what a SageMaker training container gets (`SM_*` variables and the JSON files under
`SM_INPUT_CONFIG_DIR`), so it behaves the same whoever prepared the job directory. `run` wraps a runner's
main function: a `RunnerError` becomes the failure file (`<Category>: <message>`) and exit status 1, any
other exception an `AlgorithmError` with its traceback in the log.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from sagemill.executors.algorithms.errors import AlgorithmError, PlatformError, RunnerError

logger = logging.getLogger("sagemill.algorithm")

FAILURE_EXIT_CODE = 1


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    config_dir: Path
    hyperparameters: dict[str, str]
    """The HyperParameters map exactly as sent (strings)."""
    input_data_config: dict[str, dict[str, Any]]
    channels: dict[str, Path]
    """Channel name → its local directory, for every channel of the job."""
    model_dir: Path
    output_dir: Path
    output_data_dir: Path
    num_cpus: int
    num_gpus: int
    current_host: str
    hosts: list[str]
    checkpoint_dir: Path | None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Job:
        config_dir = Path(_required(environ, "SM_INPUT_CONFIG_DIR"))
        hyperparameters = _json_file(config_dir / "hyperparameters.json", default={})
        if not isinstance(hyperparameters, dict):
            raise PlatformError("hyperparameters.json is not a JSON object")
        input_data_config = _json_file(config_dir / "inputdataconfig.json", default={})
        resource_config = _json_file(config_dir / "resourceconfig.json", default={})
        output_dir = Path(environ.get("SM_OUTPUT_DIR") or config_dir.parent.parent / "output")
        current_host = str(environ.get("SM_CURRENT_HOST") or resource_config.get("current_host") or "algo-1")
        hosts = resource_config.get("hosts") or [current_host]
        return cls(
            name=environ.get("TRAINING_JOB_NAME", ""),
            config_dir=config_dir,
            hyperparameters={str(k): str(v) for k, v in hyperparameters.items()},
            input_data_config=input_data_config,
            channels=_channels(environ, config_dir, input_data_config),
            model_dir=Path(_required(environ, "SM_MODEL_DIR")),
            output_dir=output_dir,
            output_data_dir=Path(environ.get("SM_OUTPUT_DATA_DIR") or output_dir / "data"),
            num_cpus=_positive_int(environ.get("SM_NUM_CPUS"), default=os.cpu_count() or 1),
            num_gpus=_positive_int(environ.get("SM_NUM_GPUS"), default=0),
            current_host=current_host,
            hosts=[str(h) for h in hosts],
            checkpoint_dir=_checkpoint_dir(environ, config_dir),
        )

    @property
    def failure_path(self) -> Path:
        return self.output_dir / "failure"

    def content_type(self, channel: str) -> str | None:
        value = self.input_data_config.get(channel, {}).get("ContentType")
        return str(value) if value else None


def run(main: Callable[[Job], None], environ: Mapping[str, str] | None = None) -> NoReturn:
    """Run `main` under the runner exit protocol; never returns."""
    env = os.environ if environ is None else environ
    configure_logging()
    output_dir = Path(env.get("SM_OUTPUT_DIR") or ".")
    try:
        job = Job.from_environ(env)
        output_dir = job.output_dir
        main(job)
    except RunnerError as error:
        _fail(output_dir, error)
    except Exception as error:
        logger.error("Unexpected failure:\n%s", traceback.format_exc())
        _fail(output_dir, AlgorithmError(f"{type(error).__name__}: {error}"))
    sys.stdout.flush()
    sys.exit(0)


def configure_logging() -> None:
    # Line-buffered stdout so every log and metric line reaches the job log as it is printed.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format="[%(asctime)s %(levelname)s %(name)s] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        force=True,
    )
    logging.captureWarnings(True)


def write_failure(output_dir: Path, text: str) -> None:
    """Write the failure file unless something (a user script) already wrote one, as the toolkit does."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "failure"
    if not path.exists():
        path.write_text(text, encoding="utf-8")


def _fail(output_dir: Path, error: RunnerError) -> NoReturn:
    logger.error("Reporting training FAILURE: %s", error.failure_text())
    write_failure(output_dir, error.failure_text())
    sys.stdout.flush()
    sys.exit(FAILURE_EXIT_CODE)


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name)
    if not value:
        raise PlatformError(f"The job environment has no {name}")
    return value


def _json_file(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise PlatformError(f"{path.name} is not valid JSON: {error}") from error


def _positive_int(value: str | None, default: int) -> int:
    try:
        return max(int(value), 0) if value else default
    except ValueError:
        return default


def _channels(
    environ: Mapping[str, str], config_dir: Path, data_config: Mapping[str, Any]
) -> dict[str, Path]:
    names: list[str] = []
    if environ.get("SM_CHANNELS"):
        try:
            names = [str(n) for n in json.loads(environ["SM_CHANNELS"])]
        except ValueError as error:
            raise PlatformError(f"SM_CHANNELS is not a JSON list: {error}") from error
    names += [n for n in data_config if n not in names]
    data_dir = Path(environ.get("SM_INPUT_DATA_DIR") or config_dir.parent / "data")
    return {name: Path(environ.get(f"SM_CHANNEL_{name.upper()}") or data_dir / name) for name in names}


def _checkpoint_dir(environ: Mapping[str, str], config_dir: Path) -> Path | None:
    config_file = Path(environ.get("SM_CHECKPOINT_CONFIG_FILE") or config_dir / "checkpointconfig.json")
    config = _json_file(config_file, default={})
    local_path = config.get("LocalPath") if isinstance(config, dict) else None
    return Path(local_path) if local_path else None
