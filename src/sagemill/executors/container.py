"""The SageMaker training container contract without a container: the /opt/ml tree, config files, SM_* env.

A job directory holds the tree SageMaker mounts at /opt/ml. How the worker finds it:

- **Private mount namespace (root on Linux, `opt_ml_namespace_available()`)**: `wrap_with_opt_ml`
  runs the worker under `unshare --mount` with the job's tree bind-mounted on /opt/ml, so code that
  hard-codes /opt/ml (SDK v3 drivers, bring-your-own "containers") works. Every job sees its own
  tree; the host's /opt/ml is only used as a mount point (created empty if absent), its contents are
  never read or written. Build the environment with `TrainingLayout(OPT_ML)` as the worker's view.
- **Otherwise**: the worker gets `SAGEMAKER_BASE_DIR` and SM_* paths pointing at the real job tree;
  the training toolkit and scripts that read SM_* work, hard-coded /opt/ml paths do not.

The worker environment is built from nothing: a fixed base, the job's own `Environment`, then the
contract variables. No variable of the server (AWS credentials, SAGEMILL_* settings, database URLs)
ever reaches it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Re-exported: how the worker gets its /opt/ml is part of this contract (see the module docstring).
from sagemill.executors.opt_ml import OPT_ML as OPT_ML
from sagemill.executors.opt_ml import SYSTEM_PATH
from sagemill.executors.opt_ml import opt_ml_namespace_available as opt_ml_namespace_available
from sagemill.executors.opt_ml import wrap_with_opt_ml as wrap_with_opt_ml

CURRENT_HOST = "algo-1"
HOMOGENEOUS_CLUSTER = "homogeneousCluster"
NETWORK_INTERFACE = "eth0"

# The training toolkit's reserved hyperparameters (sagemaker_training/params.py): they drive the
# toolkit and never reach the user's script as arguments or SM_HPS.
RESERVED_HYPERPARAMETERS = frozenset(
    {
        "sagemaker_program",
        "sagemaker_submit_directory",
        "sagemaker_enable_cloudwatch_metrics",
        "sagemaker_region",
        "sagemaker_container_log_level",
        "sagemaker_job_name",
        "default_user_module_name",
        "_tuning_objective_metric",
        "sagemaker_s3_output",
    }
)
# Facts the toolkit's Environment.to_env_vars exports as SM_<KEY>, besides the ones built separately.
_TOOLKIT_ENV_KEYS = (
    "hosts",
    "network_interface_name",
    "user_entry_point",
    "resource_config",
    "input_data_config",
    "output_data_dir",
    "current_host",
    "current_instance_type",
    "current_instance_group",
    "current_instance_group_hosts",
    "instance_groups",
    "instance_groups_dict",
    "distribution_instance_groups",
    "is_hetero",
    "module_name",
    "log_level",
    "framework_module",
    "input_dir",
    "input_config_dir",
    "output_dir",
    "num_cpus",
    "num_gpus",
    "model_dir",
    "module_dir",
    "output_intermediate_dir",
)
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9.\-_]{1,64}")


@dataclass(frozen=True, slots=True)
class TrainingLayout:
    """The /opt/ml tree rooted at `root` (the job's real directory, or OPT_ML as the worker sees it)."""

    root: Path

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def input_config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def input_data_dir(self) -> Path:
        return self.root / "input" / "data"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.root / "output" / "data"

    @property
    def output_intermediate_dir(self) -> Path:
        return self.root / "output" / "intermediate"

    @property
    def failure_file(self) -> Path:
        return self.root / "output" / "failure"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    def channel_dir(self, name: str) -> Path:
        # The API's pattern admits "." and "..", which would name the data dir itself or escape it.
        if not _CHANNEL_NAME.fullmatch(name) or name in (".", ".."):
            raise ValueError(f"invalid channel name {name!r}")
        return self.input_data_dir / name

    def create(self, channels: Sequence[str] = ()) -> None:
        folders = [
            self.input_config_dir,
            self.input_data_dir,
            self.model_dir,
            self.output_data_dir,
            self.output_intermediate_dir,
            self.checkpoints_dir,
            self.code_dir,
        ]
        for folder in [*folders, *(self.channel_dir(name) for name in channels)]:
            folder.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One InputDataConfig channel, as inputdataconfig.json describes it."""

    name: str
    input_mode: str = "File"
    s3_distribution_type: str = "FullyReplicated"
    record_wrapper_type: str = "None"
    content_type: str | None = None


def hosts(instance_count: int) -> list[str]:
    return [f"algo-{n}" for n in range(1, instance_count + 1)]


def resource_config(instance_type: str, instance_count: int = 1) -> dict[str, Any]:
    all_hosts = hosts(instance_count)
    return {
        "current_host": CURRENT_HOST,
        "current_instance_type": instance_type,
        "current_group_name": HOMOGENEOUS_CLUSTER,
        "hosts": all_hosts,
        "instance_groups": [
            {"instance_group_name": HOMOGENEOUS_CLUSTER, "instance_type": instance_type, "hosts": all_hosts}
        ],
        "network_interface_name": NETWORK_INTERFACE,
    }


def input_data_config(channels: Sequence[ChannelConfig]) -> dict[str, dict[str, str]]:
    config: dict[str, dict[str, str]] = {}
    for channel in channels:
        entry = {
            "TrainingInputMode": channel.input_mode,
            "S3DistributionType": channel.s3_distribution_type,
            "RecordWrapperType": channel.record_wrapper_type,
        }
        if channel.content_type is not None:
            entry["ContentType"] = channel.content_type
        config[channel.name] = entry
    return config


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)  # a reader never sees half a file


def write_hyperparameters(layout: TrainingLayout, hyperparameters: Mapping[str, str]) -> None:
    _write_json(layout.input_config_dir / "hyperparameters.json", dict(hyperparameters))


def write_resource_config(layout: TrainingLayout, instance_type: str, instance_count: int = 1) -> None:
    _write_json(
        layout.input_config_dir / "resourceconfig.json", resource_config(instance_type, instance_count)
    )


def write_input_data_config(layout: TrainingLayout, channels: Sequence[ChannelConfig]) -> None:
    _write_json(layout.input_config_dir / "inputdataconfig.json", input_data_config(channels))


def write_checkpoint_config(layout: TrainingLayout, s3_uri: str, seen: TrainingLayout | None = None) -> None:
    """Write checkpointconfig.json; LocalPath is the checkpoint dir as the worker sees it (`seen`)."""
    local = (seen or layout).checkpoints_dir
    _write_json(layout.input_config_dir / "checkpointconfig.json", {"LocalPath": str(local), "S3Uri": s3_uri})


# --- hyperparameters -----------------------------------------------------------------------------


def decode_hyperparameter(value: str) -> Any:
    """The toolkit's reading of one value: JSON if it parses, else the raw string."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def split_hyperparameters(hyperparameters: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(user hyperparameters, framework parameters), decoded; reserved ones are in neither."""
    user: dict[str, Any] = {}
    framework: dict[str, Any] = {}
    for key, raw in hyperparameters.items():
        if key in RESERVED_HYPERPARAMETERS:
            continue
        (framework if key.startswith("sagemaker_") else user)[key] = decode_hyperparameter(raw)
    return user, framework


def _arg_value(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    return "" if value is None else str(value)


def cli_args(hyperparameters: Mapping[str, str]) -> list[str]:
    """The toolkit's `mapping.to_cmd_args`: user HPs sorted by key, `--key value`, `-k value` for one char."""
    user, _ = split_hyperparameters(hyperparameters)
    args: list[str] = []
    for key in sorted(user):
        args += [f"--{key}" if len(key) > 1 else f"-{key}", _arg_value(user[key])]
    return args


# --- environment ---------------------------------------------------------------------------------


def _env_value(value: Any) -> str:
    # The toolkit's mapping.to_env_vars: strings as they are, anything else as compact sorted JSON.
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def prepare_home(home: Path) -> None:
    """Create the job's HOME and its TMPDIR (home/tmp), as `training_env` points at them."""
    (home / "tmp").mkdir(parents=True, exist_ok=True, mode=0o700)


def training_env(
    *,
    layout: TrainingLayout,
    job_name: str,
    hyperparameters: Mapping[str, str],
    channels: Sequence[ChannelConfig],
    instance_type: str,
    region: str,
    num_cpus: int,
    home: Path,
    instance_count: int = 1,
    environment: Mapping[str, str] | None = None,
    extra_path: Sequence[str] = (),
    checkpointing: bool = False,
) -> dict[str, str]:
    """The worker's whole environment: base, then the job's `Environment`, then the contract's SM_* set.

    `layout` is the tree as the worker sees it (`TrainingLayout(OPT_ML)` inside the namespace, the
    real job tree otherwise). `home` is the job directory (HOME; TMPDIR is home/tmp, see
    `prepare_home`). `extra_path` goes before the system PATH (e.g. the runner's virtualenv bin).
    """
    user_env = dict(environment or {})
    user_hps, framework = split_hyperparameters(hyperparameters)
    reserved = {
        k: decode_hyperparameter(v) for k, v in hyperparameters.items() if k in RESERVED_HYPERPARAMETERS
    }
    entry_point = user_env.get("SAGEMAKER_PROGRAM") or reserved.get("sagemaker_program")
    module_name = (
        entry_point[:-3] if isinstance(entry_point, str) and entry_point.endswith(".py") else entry_point
    )
    resources = resource_config(instance_type, instance_count)
    all_hosts = resources["hosts"]
    channel_dirs = {c.name: str(layout.channel_dir(c.name)) for c in channels}
    facts: dict[str, Any] = {
        "additional_framework_parameters": framework,
        "channel_input_dirs": channel_dirs,
        "current_host": CURRENT_HOST,
        "current_instance_group": HOMOGENEOUS_CLUSTER,
        "current_instance_group_hosts": all_hosts,
        "current_instance_type": instance_type,
        "distribution_hosts": [],
        "distribution_instance_groups": [],
        "framework_module": user_env.get("SAGEMAKER_TRAINING_MODULE"),
        "hosts": all_hosts,
        "hyperparameters": user_hps,
        "input_config_dir": str(layout.input_config_dir),
        "input_data_config": input_data_config(channels),
        "input_dir": str(layout.input_dir),
        "instance_groups": [HOMOGENEOUS_CLUSTER],
        "instance_groups_dict": {
            group["instance_group_name"]: group for group in resources["instance_groups"]
        },
        "is_hetero": False,
        "is_master": True,
        "is_modelparallel_enabled": False,
        "job_name": job_name,
        "log_level": reserved.get("sagemaker_container_log_level", logging.INFO),
        "master_hostname": CURRENT_HOST,
        "model_dir": str(layout.model_dir),
        "module_dir": str(reserved.get("sagemaker_submit_directory", layout.code_dir)),
        "module_name": module_name,
        "network_interface_name": NETWORK_INTERFACE,
        "num_cpus": num_cpus,
        "num_gpus": 0,
        "num_neurons": 0,
        "output_data_dir": str(layout.output_data_dir),
        "output_dir": str(layout.output_dir),
        "output_intermediate_dir": str(layout.output_intermediate_dir),
        "resource_config": resources,
        "user_entry_point": entry_point,
    }
    contract: dict[str, Any] = {key: facts[key] for key in _TOOLKIT_ENV_KEYS}
    contract |= {
        "hps": user_hps,
        "framework_params": framework,
        "channels": sorted(channel_dirs),
        "training_env": facts,
        "user_args": cli_args(hyperparameters),
    }
    contract |= {f"channel_{name}": path for name, path in channel_dirs.items()}
    contract |= {f"hp_{key}": value for key, value in user_hps.items()}

    env = {
        "PATH": ":".join([*extra_path, SYSTEM_PATH]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(home / "tmp"),
        "PYTHONUNBUFFERED": "1",  # so the log interleaves stdout and stderr as they happen
    }
    env |= user_env
    env |= {f"SM_{key.upper()}": _env_value(value) for key, value in contract.items()}
    env |= {
        "TRAINING_JOB_NAME": job_name,
        "SAGEMAKER_BASE_DIR": str(layout.root),
        "SM_STUDIO_LOCAL_MODE": "True",  # skips the toolkit's DNS wait for algo-N hosts
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
    if checkpointing:
        env["SM_CHECKPOINT_CONFIG_FILE"] = str(layout.input_config_dir / "checkpointconfig.json")
    return env
