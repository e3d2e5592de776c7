"""Script mode: the entry point run as the training toolkit runs it, with a cached requirements venv."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from algorithm_harness import JobDir, terminate, wait_for_line

RUNNER = "sagemill.executors.algorithms.script"

TRAIN_PY = """
import argparse, json, os, sys
import numpy  # from the runner's interpreter, not installed by the job

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--lr", type=float)
parser.add_argument("--verbose")
parser.add_argument("--nested")
parser.add_argument("-k")
args = parser.parse_args()
model_dir = os.environ["SM_MODEL_DIR"]
with open(os.path.join(model_dir, "model.json"), "w") as f:
    json.dump({
        "argv": sys.argv[1:],
        "epochs": args.epochs,
        "train": sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"])),
        "hps": json.loads(os.environ["SM_HPS"]),
        "hp_epochs": os.environ["SM_HP_EPOCHS"],
        "entry": os.environ["SM_USER_ENTRY_POINT"],
        "cwd": os.getcwd(),
        "path0": os.environ["PYTHONPATH"].split(os.pathsep)[0],
    }, f)
print("epoch=1 loss=0.5")
"""


def _script_job(tmp_path: Path, files: dict[str, str], hps: dict[str, str] | None = None) -> JobDir:
    job = JobDir(
        tmp_path / "job", hyperparameters=hps if hps is not None else {"sagemaker_program": '"train.py"'}
    )
    job.add_file("train", "data.csv", "1,2,3\n")
    job.code_dir.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (job.code_dir / name).write_text(textwrap.dedent(content))
    job.extra_env["SAGEMILL_VENV_CACHE"] = str(tmp_path / "venvs")
    return job


def _wheel(directory: Path) -> Path:
    """A one-module wheel built by hand: no build backend or index needed to install it."""
    path = directory / "sagemill_tinypkg-0.1-py3-none-any.whl"
    info = "sagemill_tinypkg-0.1.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("sagemill_tinypkg/__init__.py", "VALUE = 42\n")
        archive.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: sagemill-tinypkg\nVersion: 0.1\n")
        archive.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(
            f"{info}/RECORD",
            f"sagemill_tinypkg/__init__.py,,\n{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n",
        )
    return path


def test_entry_point_gets_toolkit_args_and_environment(tmp_path: Path) -> None:
    hps = {
        "epochs": "3",
        "lr": "0.1",
        "verbose": "true",
        "nested": '{"b": 2, "a": 1}',
        "k": '"5"',
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": '"s3://bucket/job/source/sourcedir.tar.gz"',
        "sagemaker_region": '"us-east-1"',
        "_tuning_objective_metric": "validation:loss",
    }
    job = _script_job(tmp_path, {"train.py": TRAIN_PY}, hps)
    result = job.run(RUNNER, "--framework", "sklearn")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "epoch=1 loss=0.5" in result.stdout
    model = json.loads((job.model_dir / "model.json").read_text())
    assert model["argv"] == [
        "--epochs",
        "3",
        "-k",
        "5",
        "--lr",
        "0.1",
        "--nested",
        "a=1,b=2",
        "--verbose",
        "True",
    ]
    assert model["hps"] == {"epochs": 3, "k": "5", "lr": 0.1, "nested": {"a": 1, "b": 2}, "verbose": True}
    assert model["hp_epochs"] == "3"
    assert model["train"] == ["data.csv"]
    assert model["entry"] == "train.py"
    assert model["cwd"] == str(job.code_dir) == model["path0"]
    assert result.failure is None


def test_requirements_install_into_a_venv_cached_by_content(tmp_path: Path) -> None:
    script = """
    import sys, sagemill_tinypkg, numpy, sklearn
    print("tinypkg", sagemill_tinypkg.VALUE, "prefix", sys.prefix)
    """
    job = _script_job(tmp_path, {"train.py": script})
    _wheel(job.code_dir)
    # --no-index in the file itself: pip never asks an index, the test needs no network.
    (job.code_dir / "requirements.txt").write_text("--no-index\n./sagemill_tinypkg-0.1-py3-none-any.whl\n")
    first = job.run(RUNNER)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Installing requirements.txt into a new virtualenv" in first.stdout
    assert "tinypkg 42 prefix " + str(tmp_path / "venvs") in first.stdout

    second_job = _script_job(tmp_path / "second", {"train.py": script})
    second_job.extra_env["SAGEMILL_VENV_CACHE"] = str(tmp_path / "venvs")
    _wheel(second_job.code_dir)
    (second_job.code_dir / "requirements.txt").write_text(
        "--no-index\n./sagemill_tinypkg-0.1-py3-none-any.whl\n"
    )
    second = second_job.run(RUNNER)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Using the cached virtualenv" in second.stdout
    assert "Installing" not in second.stdout
    assert len([p for p in (tmp_path / "venvs").iterdir() if p.is_dir()]) == 1


def test_uninstallable_requirement_is_a_client_error(tmp_path: Path) -> None:
    job = _script_job(tmp_path, {"train.py": "print('never runs')\n"})
    (job.code_dir / "requirements.txt").write_text("--no-index\nsagemill-no-such-package==9.9.9\n")
    result = job.run(RUNNER)
    assert result.returncode == 1
    assert result.failure is not None
    assert result.failure.startswith("ClientError: could not install requirements.txt: ")
    assert "sagemill-no-such-package" in result.failure
    assert "never runs" not in result.stdout
    assert [p for p in (tmp_path / "venvs").iterdir() if p.is_dir()] == []  # no half-built venv is kept


def test_script_failure_reports_exit_code_and_stderr(tmp_path: Path) -> None:
    script = """
    import sys
    print("starting")
    raise ValueError("learning rate too high")
    """
    job = _script_job(tmp_path, {"train.py": script}, {"sagemaker_program": '"train.py"', "lr": "9"})
    result = job.run(RUNNER)
    assert result.returncode == 1
    assert result.failure is not None
    assert result.failure.startswith('AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage "')
    assert "ValueError: learning rate too high" in result.failure
    assert result.failure.rstrip().endswith(f'Command "{sys.executable} {job.code_dir / "train.py"} --lr 9"')
    assert "ValueError: learning rate too high" in result.stderr  # the traceback is in the job log too


def test_a_failure_file_written_by_the_script_is_kept(tmp_path: Path) -> None:
    script = """
    import os, sys
    open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write("my own reason")
    sys.exit(4)
    """
    job = _script_job(tmp_path, {"train.py": script})
    result = job.run(RUNNER)
    assert result.returncode == 1
    assert result.failure == "my own reason"


def test_shell_entry_point_and_sagemaker_program_env(tmp_path: Path) -> None:
    script = """
    echo "args: $@"
    python -c "import sys; print(sys.executable)" > "$SM_MODEL_DIR/python.txt"
    """
    job = _script_job(tmp_path, {"run.sh": script, "train.py": "raise SystemExit('not me')\n"})
    job.hyperparameters["alpha"] = "0.5"
    job.extra_env["SAGEMAKER_PROGRAM"] = "run.sh"  # the env var wins over the hyperparameter
    result = job.run(RUNNER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "args: --alpha 0.5" in result.stdout
    assert (job.model_dir / "python.txt").read_text().strip() == str(Path(sys.executable).parent / "python")


@pytest.mark.parametrize(
    ("hps", "files", "message"),
    [
        (
            {"sagemaker_program": '"train.py"'},
            {},
            "ClientError: entry point train.py not found in the source directory ",
        ),
        ({}, {"train.py": ""}, "ClientError: No entry point: set the sagemaker_program hyperparameter"),
        (
            {"sagemaker_program": '"train.txt"'},
            {"train.txt": ""},
            "ClientError: entry point train.txt must be a Python (.py) or shell (.sh) script",
        ),
    ],
)
def test_entry_point_errors(tmp_path: Path, hps: dict[str, str], files: dict[str, str], message: str) -> None:
    result = _script_job(tmp_path, files, hps).run(RUNNER)
    assert result.returncode == 1
    assert result.failure is not None and result.failure.startswith(message)


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed here")
def test_pytorch_image_without_torch_fails_clearly(tmp_path: Path) -> None:
    result = _script_job(tmp_path, {"train.py": "import torch\n"}).run(RUNNER, "--framework", "pytorch")
    assert result.returncode == 1
    assert result.failure is not None
    assert result.failure.startswith("ClientError: This PyTorch training image needs the torch package")
    assert "requirements.txt" in result.failure


def test_sigterm_reaches_the_script_and_is_not_a_failure(tmp_path: Path) -> None:
    script = """
    import os, signal, sys, time
    def stop(signum, frame):
        open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("saved on SIGTERM")
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    time.sleep(60)
    """
    job = _script_job(tmp_path, {"train.py": script})
    process = job.start(RUNNER)
    wait_for_line(process, "ready")
    returncode, _ = terminate(process)
    assert returncode == 0
    assert (job.model_dir / "model.txt").read_text() == "saved on SIGTERM"
    assert not (job.output_dir / "failure").exists()
