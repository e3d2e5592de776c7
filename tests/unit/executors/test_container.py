"""The training container contract: layout, config files, CLI args, SM_* environment, private /opt/ml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagemill.executors import container, opt_ml
from sagemill.executors.base import WorkerPhase, WorkerSpec
from sagemill.executors.container import (
    OPT_ML,
    ChannelConfig,
    TrainingLayout,
    cli_args,
    opt_ml_namespace_available,
    prepare_home,
    training_env,
    wrap_with_opt_ml,
    write_checkpoint_config,
    write_hyperparameters,
    write_input_data_config,
    write_resource_config,
)
from sagemill.executors.local import LocalExecutor

# As the SDK v2 sends them: framework estimators JSON-encode every value.
SDK_HPS = {
    "epochs": "10",
    "lr": "0.05",
    "optimizer": '"adam"',
    "raw": "not json",
    "b": "true",
    "layers": "[64, 32]",
    "opts": '{"beta": 2, "alpha": 1}',
    "sagemaker_program": '"train.py"',
    "sagemaker_submit_directory": '"s3://bucket/job/source/sourcedir.tar.gz"',
    "sagemaker_container_log_level": "20",
    "sagemaker_region": '"us-west-2"',
    "sagemaker_job_name": '"job-1"',
    "sagemaker_mpi_enabled": "false",
    "_tuning_objective_metric": '"validation:rmse"',
}
CHANNELS = [ChannelConfig("train", content_type="text/csv"), ChannelConfig("validation")]


def test_layout_paths_and_create(tmp_path: Path) -> None:
    layout = TrainingLayout(tmp_path / "ml")
    layout.create(["train", "validation"])
    for relative in (
        "input/config",
        "input/data/train",
        "input/data/validation",
        "model",
        "output/data",
        "output/intermediate",
        "checkpoints",
        "code",
    ):
        assert (tmp_path / "ml" / relative).is_dir(), relative
    assert layout.failure_file == tmp_path / "ml/output/failure"
    assert TrainingLayout(OPT_ML).model_dir == Path("/opt/ml/model")


@pytest.mark.parametrize("name", ["..", ".", "a/b", "", "x" * 65, "tab\t"])
def test_channel_names_cannot_escape_the_data_dir(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="channel name"):
        TrainingLayout(tmp_path).channel_dir(name)


def test_config_files(tmp_path: Path) -> None:
    layout = TrainingLayout(tmp_path)
    layout.create()
    write_hyperparameters(layout, SDK_HPS)
    write_resource_config(layout, "ml.m5.large", instance_count=2)
    write_input_data_config(layout, CHANNELS)
    write_checkpoint_config(layout, "s3://bucket/ckpt", seen=TrainingLayout(OPT_ML))

    def read(name: str) -> object:
        return json.loads((tmp_path / "input/config" / name).read_text())

    assert read("hyperparameters.json") == SDK_HPS
    assert read("resourceconfig.json") == {
        "current_host": "algo-1",
        "current_instance_type": "ml.m5.large",
        "current_group_name": "homogeneousCluster",
        "hosts": ["algo-1", "algo-2"],
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": "ml.m5.large",
                "hosts": ["algo-1", "algo-2"],
            }
        ],
        "network_interface_name": "eth0",
    }
    assert read("inputdataconfig.json") == {
        "train": {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
            "ContentType": "text/csv",
        },
        "validation": {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        },
    }
    assert read("checkpointconfig.json") == {"LocalPath": "/opt/ml/checkpoints", "S3Uri": "s3://bucket/ckpt"}


def test_cli_args_follow_the_toolkit_mapping() -> None:
    assert cli_args(SDK_HPS) == [
        "-b",
        "True",
        "--epochs",
        "10",
        "--layers",
        "[64, 32]",
        "--lr",
        "0.05",
        "--optimizer",
        "adam",
        "--opts",
        "alpha=1,beta=2",
        "--raw",
        "not json",
    ]
    assert cli_args({"flag": "false", "none": "null"}) == ["--flag", "False", "--none", ""]


def _env(tmp_path: Path, **overrides: object) -> dict[str, str]:
    arguments: dict[str, object] = {
        "layout": TrainingLayout(tmp_path / "ml"),
        "job_name": "job-1",
        "hyperparameters": SDK_HPS,
        "channels": CHANNELS,
        "instance_type": "ml.m5.large",
        "region": "us-west-2",
        "num_cpus": 2,
        "home": tmp_path,
    }
    return training_env(**{**arguments, **overrides})  # type: ignore[arg-type]


def test_training_env_sets_the_sm_variables(tmp_path: Path) -> None:
    env = _env(tmp_path)
    ml = tmp_path / "ml"
    assert env["SM_MODEL_DIR"] == str(ml / "model")
    assert env["SM_CHANNELS"] == '["train","validation"]'
    assert env["SM_CHANNEL_TRAIN"] == str(ml / "input/data/train")
    assert env["SM_CHANNEL_VALIDATION"] == str(ml / "input/data/validation")
    assert json.loads(env["SM_HPS"]) == {
        "epochs": 10,
        "lr": 0.05,
        "optimizer": "adam",
        "raw": "not json",
        "b": True,
        "layers": [64, 32],
        "opts": {"alpha": 1, "beta": 2},
    }
    assert env["SM_HP_EPOCHS"] == "10" and env["SM_HP_OPTIMIZER"] == "adam" and env["SM_HP_B"] == "true"
    assert "SM_HP_SAGEMAKER_PROGRAM" not in env and "SM_HP__TUNING_OBJECTIVE_METRIC" not in env
    assert json.loads(env["SM_USER_ARGS"]) == cli_args(SDK_HPS)
    assert json.loads(env["SM_FRAMEWORK_PARAMS"]) == {"sagemaker_mpi_enabled": False}
    assert env["SM_CURRENT_HOST"] == "algo-1" and env["SM_HOSTS"] == '["algo-1"]'
    assert env["SM_NUM_CPUS"] == "2" and env["SM_NUM_GPUS"] == "0"
    assert env["SM_CURRENT_INSTANCE_TYPE"] == "ml.m5.large"
    assert env["SM_INPUT_DIR"] == str(ml / "input")
    assert env["SM_INPUT_CONFIG_DIR"] == str(ml / "input/config")
    assert env["SM_OUTPUT_DIR"] == str(ml / "output")
    assert env["SM_OUTPUT_DATA_DIR"] == str(ml / "output/data")
    assert env["SM_OUTPUT_INTERMEDIATE_DIR"] == str(ml / "output/intermediate")
    assert json.loads(env["SM_RESOURCE_CONFIG"])["current_group_name"] == "homogeneousCluster"
    assert json.loads(env["SM_INPUT_DATA_CONFIG"])["train"]["ContentType"] == "text/csv"
    assert env["SM_LOG_LEVEL"] == "20" and env["SM_NETWORK_INTERFACE_NAME"] == "eth0"
    assert env["SM_MODULE_DIR"] == "s3://bucket/job/source/sourcedir.tar.gz"
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_NAME"] == "train"
    training = json.loads(env["SM_TRAINING_ENV"])
    assert (
        training["job_name"] == "job-1" and training["channel_input_dirs"]["train"] == env["SM_CHANNEL_TRAIN"]
    )
    assert env["TRAINING_JOB_NAME"] == "job-1" and env["SAGEMAKER_BASE_DIR"] == str(ml)
    assert env["SM_STUDIO_LOCAL_MODE"] == "True" and env["AWS_REGION"] == "us-west-2"
    assert env["HOME"] == str(tmp_path) and env["TMPDIR"] == str(tmp_path / "tmp")
    assert env["PYTHONUNBUFFERED"] == "1" and env["LANG"] == "C.UTF-8"
    assert env["PATH"].endswith("/usr/bin:/sbin:/bin")


def test_training_env_never_copies_the_server_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "AWS_ACCESS_KEY_ID": "AKIASERVER",
        "AWS_SECRET_ACCESS_KEY": "server-secret",
        "AWS_SESSION_TOKEN": "server-token",
        "AWS_PROFILE": "admin",
        "SAGEMILL_DATABASE_URL": "postgresql://u:pw@db/sagemill",
        "SAGEMILL_DATA_DIR": "/srv/sagemill",
        "DATABASE_URL": "postgresql://u:pw@db/x",
        "PATH": "/opt/server-only/bin:/usr/bin",
        "HOME": "/root/server-home",
    }
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    env = _env(tmp_path, checkpointing=True)
    assert not any(key.startswith("SAGEMILL_") for key in env)
    assert {key for key in env if key.startswith("AWS_")} == {"AWS_REGION", "AWS_DEFAULT_REGION"}
    for value in secrets.values():
        assert all(value not in v for v in env.values()), value
    expected_non_sm = {
        "PATH",
        "HOME",
        "LANG",
        "TMPDIR",
        "PYTHONUNBUFFERED",
        "TRAINING_JOB_NAME",
        "SAGEMAKER_BASE_DIR",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    }
    assert {key for key in env if not key.startswith("SM_")} == expected_non_sm


def test_the_jobs_environment_passes_through_and_the_contract_wins(tmp_path: Path) -> None:
    user = {"MY_FLAG": "1", "SM_MODEL_DIR": "/elsewhere", "SAGEMAKER_PROGRAM": "entry.py"}
    env = _env(tmp_path, environment=user, extra_path=["/venv/bin"])
    assert env["MY_FLAG"] == "1"
    assert env["SM_MODEL_DIR"] == str(tmp_path / "ml/model")
    assert env["SM_USER_ENTRY_POINT"] == "entry.py"  # the env var wins over the hyperparameter
    assert env["PATH"].startswith("/venv/bin:")


SCRIPT = """
import argparse, json, os, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--lr", type=float)
args, _ = parser.parse_known_args()
train = pathlib.Path(os.environ["SM_CHANNEL_TRAIN"]) / "data.csv"
model = pathlib.Path(os.environ["SM_MODEL_DIR"]) / "model.json"
model.write_text(json.dumps({"epochs": args.epochs, "lr": args.lr, "rows": len(train.read_text().split())}))
"""


def test_script_mode_end_to_end(tmp_path: Path) -> None:
    layout = TrainingLayout(tmp_path / "ml")
    layout.create(["train", "validation"])
    (layout.channel_dir("train") / "data.csv").write_text("1,2\n3,4\n")
    (layout.code_dir / "train.py").write_text(textwrap.dedent(SCRIPT))
    prepare_home(tmp_path)
    env = _env(tmp_path)
    executor = LocalExecutor()
    argv = [sys.executable, str(layout.code_dir / "train.py"), *cli_args(SDK_HPS)]
    executor.start(WorkerSpec(tmp_path / "worker", argv, env, cwd=layout.code_dir))
    state = _wait(executor, tmp_path / "worker")
    assert state == 0, executor.log_path(tmp_path / "worker").read_text()
    assert json.loads((layout.model_dir / "model.json").read_text()) == {"epochs": 10, "lr": 0.05, "rows": 2}


def _wait(executor: LocalExecutor, workdir: Path) -> int | None:
    deadline = time.monotonic() + 10
    while (state := executor.observe(workdir)) is None or state.phase == WorkerPhase.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return state.exit_code


# --- private /opt/ml -----------------------------------------------------------------------------


def test_probe_says_no_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    opt_ml_namespace_available.cache_clear()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    try:
        assert opt_ml_namespace_available() is False
    finally:
        monkeypatch.undo()
        opt_ml_namespace_available.cache_clear()


def test_wrap_refuses_without_the_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(opt_ml, "_namespace_tools", lambda: None)
    with pytest.raises(RuntimeError, match="private /opt/ml"):
        container.wrap_with_opt_ml(["true"], tmp_path)


def test_probe_matches_unshare_as_root() -> None:
    # The probe must not be a forever-skip: where root can unshare, it must say so.
    if os.geteuid() != 0:
        pytest.skip("the namespace path needs root")
    works = subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0
    assert opt_ml_namespace_available() is works


needs_namespace = pytest.mark.skipif(
    not opt_ml_namespace_available(), reason="no private mount namespace here (needs root + unshare)"
)


def _host_opt_ml() -> list[str] | None:
    return sorted(os.listdir(OPT_ML)) if OPT_ML.is_dir() else None


@pytest.fixture
def host_opt_ml() -> Iterator[list[str] | None]:
    """The host's /opt/ml listing before the test; a mount point the test created is removed after."""
    before = _host_opt_ml()
    yield before
    if before is None and OPT_ML.is_dir() and not os.listdir(OPT_ML):
        OPT_ML.rmdir()  # leave the host as we found it


@needs_namespace
def test_worker_sees_its_job_tree_on_opt_ml(tmp_path: Path, host_opt_ml: list[str] | None) -> None:
    layout = TrainingLayout(tmp_path / "ml")
    layout.create()
    write_hyperparameters(layout, {"epochs": "3"})
    code = (
        "import json, os; hps = json.load(open('/opt/ml/input/config/hyperparameters.json'));"
        "open('/opt/ml/model/out.txt', 'w').write(hps['epochs']); print(os.getpid())"
    )
    proc = subprocess.Popen(
        wrap_with_opt_ml([sys.executable, "-c", code], layout.root), stdout=subprocess.PIPE, env={}
    )
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert int(out) == proc.pid  # unshare and sh exec: signals aimed at the worker reach it
    assert (layout.model_dir / "out.txt").read_text() == "3"
    assert _host_opt_ml() == (host_opt_ml or [])  # only ever a mount point: nothing written there


@needs_namespace
def test_stop_reaches_a_namespaced_worker(tmp_path: Path, host_opt_ml: list[str] | None) -> None:
    layout = TrainingLayout(tmp_path / "ml")
    layout.create()
    code = """
import signal, sys, time
def on_term(signum, frame):
    open('/opt/ml/model/saved-on-sigterm', 'w').write('ok')
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
open('/opt/ml/output/ready', 'w').close()
time.sleep(60)
"""
    executor = LocalExecutor()
    workdir = tmp_path / "worker"
    executor.start(WorkerSpec(workdir, wrap_with_opt_ml([sys.executable, "-c", code], layout.root), {}))
    deadline = time.monotonic() + 10
    while not (layout.output_dir / "ready").exists():
        assert time.monotonic() < deadline, executor.log_path(workdir).read_text()
        time.sleep(0.02)
    executor.stop(workdir, grace_seconds=5)
    assert _wait(executor, workdir) == 0
    assert (layout.model_dir / "saved-on-sigterm").read_text() == "ok"
