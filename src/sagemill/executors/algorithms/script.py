"""Script mode for the framework images: `python -m sagemill.executors.algorithms.script --framework NAME`.

What the SageMaker training toolkit does inside a framework container, as a host process:
1. the user's code is already extracted by the platform into `SM_MODULE_DIR` (when it is a local folder),
   else `$SAGEMAKER_BASE_DIR/code`, else `<job>/code` next to `input/`;
2. a `requirements.txt` there is installed into a virtualenv cached by the hash of its content (and of
   the interpreter and index), under `SAGEMILL_VENV_CACHE`; the venv sees every package of the interpreter
   running this runner (numpy, scikit-learn, xgboost...), and pip uses `SAGEMILL_PIP_INDEX_URL` or
   `PIP_INDEX_URL` so an air-gapped site points it at its mirror;
3. the entry point (`SAGEMAKER_PROGRAM` env, else the json-encoded `sagemaker_program` hyperparameter)
   runs as `python <script> --key value ...` (`.py`) or `bash <script> ...` (`.sh`) in the code folder,
   with the toolkit's arguments (`container.cli_args`); `SM_HPS`/`SM_HP_*`/`SM_USER_ARGS`... are added to
   the environment only where the platform did not set them;
4. a non-zero exit writes `AlgorithmError: ExecuteUserScriptError:` with the exit code and the last lines
   of stderr to the failure file, unless the script wrote one itself.
`--framework pytorch` also checks that `torch` imports in the job's interpreter (it is no Sagemill
dependency; a requirements.txt may bring it).
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import IO, Any

from sagemill.executors.algorithms import job as job_module
from sagemill.executors.algorithms.errors import UserError
from sagemill.executors.algorithms.job import Job
from sagemill.executors.container import cli_args, decode_hyperparameter, split_hyperparameters

logger = logging.getLogger("sagemill.algorithm.script")

FRAMEWORKS = ("sklearn", "pytorch", "xgboost")
COMPLETE_MARKER = ".sagemill-complete"
ERROR_LINES = 20
ERROR_CHARS = 800


def code_dir(environ: Mapping[str, str], job: Job) -> Path:
    module_dir = environ.get("SM_MODULE_DIR", "")
    if module_dir and "://" not in module_dir and Path(module_dir).is_dir():
        return Path(module_dir)
    if environ.get("SAGEMAKER_BASE_DIR"):
        return Path(environ["SAGEMAKER_BASE_DIR"]) / "code"
    return job.config_dir.parent.parent / "code"


def entry_point(environ: Mapping[str, str], job: Job) -> str:
    raw = job.hyperparameters.get("sagemaker_program")
    program = environ.get("SAGEMAKER_PROGRAM") or (decode_hyperparameter(raw) if raw else None)
    if not program:
        raise UserError(
            "No entry point: set the sagemaker_program hyperparameter (the SDK's entry_point) "
            "or the SAGEMAKER_PROGRAM environment variable"
        )
    return str(program)


def main(job: Job, framework: str, environ: Mapping[str, str]) -> None:
    source = code_dir(environ, job)
    program = entry_point(environ, job)
    script = source / program
    if not script.is_file():
        raise UserError(
            f"entry point {program} not found in the source directory {source}: "
            "check entry_point and source_dir (the entry point path is relative to source_dir)"
        )
    if script.suffix not in (".py", ".sh"):
        raise UserError(f"entry point {program} must be a Python (.py) or shell (.sh) script")

    python = Path(sys.executable)
    requirements = source / "requirements.txt"
    if requirements.is_file():
        python = ensure_venv(requirements, environ) / "bin" / "python"
    if framework == "pytorch":
        probe = subprocess.run([str(python), "-c", "import torch"], capture_output=True, check=False)
        if probe.returncode != 0:
            raise UserError(
                "This PyTorch training image needs the torch package, which is not installed on this "
                "Sagemill server: add torch to requirements.txt or ask the operator to install it"
            )

    user_hps, _ = split_hyperparameters(job.hyperparameters)
    args = cli_args(job.hyperparameters)
    interpreter = [str(python)] if script.suffix == ".py" else ["bash"]
    command = [*interpreter, str(script), *args]
    env = script_environment(environ, job, source, program, user_hps, args, python)
    logger.info("Invoking user script: %s", " ".join(command))
    returncode, stopped, tail = _run(command, env, source)
    if returncode == 0:
        return
    if stopped:
        logger.info("The script ended with %s after SIGTERM", returncode)
        sys.stdout.flush()
        sys.exit(returncode if returncode > 0 else 128 - returncode)
    message = tail.strip()
    text = (
        f'AlgorithmError: ExecuteUserScriptError:\nExitCode {returncode}\nErrorMessage "{message}"\n'
        f'Command "{" ".join(command)}"'
    )
    logger.error("Reporting training FAILURE: ExitCode %s", returncode)
    job_module.write_failure(job.output_dir, text)
    sys.stdout.flush()
    sys.exit(job_module.FAILURE_EXIT_CODE)


def script_environment(
    environ: Mapping[str, str],
    job: Job,
    source: Path,
    program: str,
    user_hps: Mapping[str, Any],
    args: list[str],
    python: Path,
) -> dict[str, str]:
    env = dict(environ)
    # Only what the platform did not set already: it owns the contract, this fills the toolkit's extras.
    defaults = {
        "SM_USER_ENTRY_POINT": program,
        "SM_MODULE_NAME": program.rsplit(".", 1)[0],
        "SM_MODULE_DIR": str(source),
        "SM_HPS": json.dumps(dict(user_hps), sort_keys=True),
        "SM_USER_ARGS": json.dumps(args),
        "PYTHONUNBUFFERED": "1",
    }
    for key, value in user_hps.items():
        defaults[f"SM_HP_{key.upper()}"] = (
            value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        )
    for key, value in defaults.items():
        env.setdefault(key, value)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(source), environ.get("PYTHONPATH", "")) if p)
    # `python` in a .sh entry point, and console scripts, are the job's interpreter.
    env["PATH"] = os.pathsep.join(p for p in (str(python.parent), environ.get("PATH", "")) if p)
    return env


def ensure_venv(requirements: Path, environ: Mapping[str, str]) -> Path:
    """The cached virtualenv for this requirements.txt, built (under a lock) if it is not there yet."""
    index_url = environ.get("SAGEMILL_PIP_INDEX_URL") or environ.get("PIP_INDEX_URL") or ""
    digest = hashlib.sha256()
    for part in (requirements.read_bytes(), os.path.realpath(sys.executable).encode(), sys.version.encode()):
        digest.update(part + b"\0")
    digest.update(index_url.encode())
    cache = Path(environ.get("SAGEMILL_VENV_CACHE") or Path(tempfile.gettempdir()) / "sagemill-venvs")
    cache.mkdir(parents=True, exist_ok=True)
    venv = cache / digest.hexdigest()[:32]
    # Jobs with the same requirements wait for one another here instead of installing twice.
    with (cache / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / COMPLETE_MARKER).exists():
            logger.info("Using the cached virtualenv %s for requirements.txt", venv)
            return venv
        shutil.rmtree(venv, ignore_errors=True)  # a half-built one from an interrupted job
        logger.info("Installing requirements.txt into a new virtualenv %s", venv)
        _create_venv(venv)
        python = str(venv / "bin" / "python")
        # The runner's own pip drives the venv (pip --python), so the venv needs no pip of its own.
        pip = [sys.executable, "-m", "pip", "--python", python]
        if importlib.util.find_spec("pip") is None:
            subprocess.run([python, "-m", "ensurepip", "--default-pip"], check=True, capture_output=True)
            pip = [python, "-m", "pip"]
        command = [*pip, "install"]
        command += ["--no-input", "--disable-pip-version-check", "-r", str(requirements)]
        if index_url:
            command += ["--index-url", index_url]
        returncode, output = _stream(command, dict(environ), requirements.parent)
        if returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise UserError(f"could not install requirements.txt: {output.strip()}")
        (venv / COMPLETE_MARKER).write_text(requirements.read_text(encoding="utf-8", errors="replace"))
        return venv


def _create_venv(venv: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
        check=True,
        capture_output=True,
    )
    if sys.prefix == sys.base_prefix:
        return
    # The runner itself runs in a virtualenv: --system-site-packages only reaches the base interpreter's
    # packages, so the venv also adds the runner's own site-packages (after its own, which win).
    lines = [f"import site; site.addsitedir({path!r})" for path in site.getsitepackages()]
    purelib = next((venv / "lib").glob("python*/site-packages"))
    (purelib / "_sagemill_runner_packages.pth").write_text("\n".join(lines) + "\n")


def _stream(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run, copying output to the job log; returns the exit code and the last lines of output."""
    tail: collections.deque[str] = collections.deque(maxlen=12)
    with subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as process:
        assert process.stdout is not None
        for raw in process.stdout:
            sys.stdout.buffer.write(raw)
            sys.stdout.flush()
            tail.append(raw.decode("utf-8", errors="replace").rstrip())
    return process.returncode, "\n".join(line for line in tail if line)


def _run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, bool, str]:
    """Run the user's script: stdout straight to the job log, stderr copied there with its tail kept."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stderr=subprocess.PIPE)
    stopped = threading.Event()

    def forward(signum: int, frame: FrameType | None) -> None:
        stopped.set()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    tail: collections.deque[str] = collections.deque(maxlen=ERROR_LINES)
    assert process.stderr is not None
    _copy(process.stderr, tail)
    returncode = process.wait()
    lines = list(dict.fromkeys(line for line in tail if line.strip()))
    text = "\n".join(lines)
    return returncode, stopped.is_set(), text[-ERROR_CHARS:]


def _copy(stream: IO[bytes], tail: collections.deque[str]) -> None:
    for raw in stream:
        sys.stderr.buffer.write(raw)
        sys.stderr.flush()
        tail.append(raw.decode("utf-8", errors="replace").rstrip())


def _main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sagemill.executors.algorithms.script")
    parser.add_argument("--framework", choices=FRAMEWORKS, default="sklearn")
    options = parser.parse_args()
    environ = dict(os.environ)
    job_module.run(lambda job: main(job, options.framework, environ))


if __name__ == "__main__":
    _main()
