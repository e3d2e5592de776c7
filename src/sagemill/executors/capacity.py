"""Instance types as vCPUs and memory, and whether one more job fits on this machine beside the running ones.

A job reserves its instance type's vCPUs and memory times its instance count, clamped to the whole
machine: a type larger than the host runs alone instead of waiting forever. The planner is stateless;
the caller passes what is held (the training reconciler: its running jobs and every endpoint variant's
instances, `control.endpoint_capacity`), and a job that does not fit waits (shown as Pending).
Endpoints themselves start regardless of what is free. GPUs are listed for the record but not scheduled.

Types missing from the table are read from their name, `ml.<family>.<size>`: `medium` = 1 vCPU,
`large` = 2, `xlarge` = 4, `<N>xlarge` = 4N; memory per vCPU by the family's first letter:
c = 2 GiB, m/t/g/p/other = 4 GiB, r = 8 GiB, x = 16 GiB.

`SAGEMILL_CAPACITY_CPUS` and `SAGEMILL_CAPACITY_MEMORY_MB` override what is detected (tests, or a
host shared with other services).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sagemill.executors.opt_ml import SYSTEM_PATH

CPUS_ENV = "SAGEMILL_CAPACITY_CPUS"
MEMORY_ENV = "SAGEMILL_CAPACITY_MEMORY_MB"


class UnknownInstanceType(ValueError):
    """Not an `ml.*` instance type this module can size."""


@dataclass(frozen=True, slots=True)
class InstanceShape:
    vcpus: int
    memory_mib: int
    gpus: int = 0


# family: (size, vCPUs, memory GiB, GPUs), from the EC2 instance type specifications.
_SPECS: dict[str, list[tuple[str, int, float, int]]] = {
    "m4": [("xlarge", 4, 16, 0), ("2xlarge", 8, 32, 0), ("4xlarge", 16, 64, 0), ("10xlarge", 40, 160, 0)],
    "m5": [
        *[("large", 2, 8, 0), ("xlarge", 4, 16, 0), ("2xlarge", 8, 32, 0), ("4xlarge", 16, 64, 0)],
        *[("12xlarge", 48, 192, 0), ("24xlarge", 96, 384, 0)],
    ],
    "m6i": [
        *[("large", 2, 8, 0), ("xlarge", 4, 16, 0), ("2xlarge", 8, 32, 0), ("4xlarge", 16, 64, 0)],
        *[("8xlarge", 32, 128, 0), ("12xlarge", 48, 192, 0), ("16xlarge", 64, 256, 0)],
        *[("24xlarge", 96, 384, 0), ("32xlarge", 128, 512, 0)],
    ],
    "c5": [
        *[("large", 2, 4, 0), ("xlarge", 4, 8, 0), ("2xlarge", 8, 16, 0), ("4xlarge", 16, 32, 0)],
        *[("9xlarge", 36, 72, 0), ("18xlarge", 72, 144, 0)],
    ],
    "c6i": [
        *[("large", 2, 4, 0), ("xlarge", 4, 8, 0), ("2xlarge", 8, 16, 0), ("4xlarge", 16, 32, 0)],
        *[("8xlarge", 32, 64, 0), ("12xlarge", 48, 96, 0), ("16xlarge", 64, 128, 0)],
        *[("24xlarge", 96, 192, 0), ("32xlarge", 128, 256, 0)],
    ],
    "r5": [
        *[("large", 2, 16, 0), ("xlarge", 4, 32, 0), ("2xlarge", 8, 64, 0), ("4xlarge", 16, 128, 0)],
        *[("12xlarge", 48, 384, 0), ("24xlarge", 96, 768, 0)],
    ],
    "t3": [("medium", 2, 4, 0), ("large", 2, 8, 0), ("xlarge", 4, 16, 0), ("2xlarge", 8, 32, 0)],
    "g4dn": [
        *[("xlarge", 4, 16, 1), ("2xlarge", 8, 32, 1), ("4xlarge", 16, 64, 1), ("8xlarge", 32, 128, 1)],
        *[("12xlarge", 48, 192, 4), ("16xlarge", 64, 256, 1)],
    ],
    "g5": [
        *[("xlarge", 4, 16, 1), ("2xlarge", 8, 32, 1), ("4xlarge", 16, 64, 1), ("8xlarge", 32, 128, 1)],
        *[("12xlarge", 48, 192, 4), ("16xlarge", 64, 256, 1), ("24xlarge", 96, 384, 4)],
        *[("48xlarge", 192, 768, 8)],
    ],
    "p3": [("2xlarge", 8, 61, 1), ("8xlarge", 32, 244, 4), ("16xlarge", 64, 488, 8)],
    "p3dn": [("24xlarge", 96, 768, 8)],
}
INSTANCE_TYPES: dict[str, InstanceShape] = {
    f"ml.{family}.{size}": InstanceShape(vcpus, int(gib * 1024), gpus)
    for family, rows in _SPECS.items()
    for size, vcpus, gib, gpus in rows
}
_NAME = re.compile(r"ml\.([a-z][a-z0-9-]*)\.(medium|large|(\d*)xlarge)")
_GIB_PER_VCPU = {"c": 2, "r": 8, "x": 16}


def instance_shape(instance_type: str) -> InstanceShape:
    if shape := INSTANCE_TYPES.get(instance_type):
        return shape
    match = _NAME.fullmatch(instance_type)
    if match is None:
        raise UnknownInstanceType(f"cannot size instance type {instance_type!r}")
    family, size, multiple = match.groups()
    if size == "medium":
        vcpus = 1
    elif size == "large":
        vcpus = 2
    else:
        vcpus = 4 * int(multiple or 1)
    return InstanceShape(vcpus, vcpus * _GIB_PER_VCPU.get(family[0], 4) * 1024)


# --- the machine ---------------------------------------------------------------------------------


def _cgroup_limit(name: str) -> str | None:
    """A cgroup v2 limit of our own cgroup (a container or systemd slice), or None when unlimited."""
    try:
        value = Path("/sys/fs/cgroup", name).read_text().strip()
    except OSError:
        return None
    return None if value.startswith("max") else value


def _detect_cpus() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    if quota := _cgroup_limit("cpu.max"):
        limit, period = quota.split()
        cpus = min(cpus, max(1, int(limit) // int(period)))
    return cpus


def _detect_memory_mib() -> int:
    total = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) // 1024
    except OSError:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    if limit := _cgroup_limit("memory.max"):
        total = min(total, int(limit) // 2**20)
    return total


@dataclass(frozen=True, slots=True)
class Machine:
    """What this host offers to jobs."""

    cpus: int
    memory_mib: int

    @classmethod
    def detect(cls, environ: Mapping[str, str] | None = None) -> Machine:
        env = os.environ if environ is None else environ
        cpus = int(env[CPUS_ENV]) if env.get(CPUS_ENV) else _detect_cpus()
        memory = int(env[MEMORY_ENV]) if env.get(MEMORY_ENV) else _detect_memory_mib()
        return cls(cpus, memory)


@dataclass(frozen=True, slots=True)
class Reservation:
    """The share of the machine a running job holds."""

    cpus: int
    memory_mib: int


class CapacityPlanner:
    """Says whether a job fits now, and how many threads and which cores it should use."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    def reservation(self, instance_type: str, instance_count: int = 1) -> Reservation:
        shape = instance_shape(instance_type)
        return Reservation(
            max(1, min(shape.vcpus * instance_count, self.machine.cpus)),
            min(shape.memory_mib * instance_count, self.machine.memory_mib),
        )

    def free(self, running: Iterable[Reservation]) -> Reservation:
        held = list(running)
        return Reservation(
            self.machine.cpus - sum(r.cpus for r in held),
            self.machine.memory_mib - sum(r.memory_mib for r in held),
        )

    def fits(self, wanted: Reservation, running: Iterable[Reservation]) -> bool:
        free = self.free(running)
        return wanted.cpus <= free.cpus and wanted.memory_mib <= free.memory_mib

    def pick_cpus(self, wanted: Reservation, busy: Iterable[int] = ()) -> list[int]:
        """Core ids for the job: free cores first (lowest ids), then busy ones if there are too few."""
        try:
            usable = sorted(os.sched_getaffinity(0))
        except AttributeError:
            usable = list(range(os.cpu_count() or 1))
        taken = set(busy)
        ordered = [c for c in usable if c not in taken] + [c for c in usable if c in taken]
        return sorted(ordered[: wanted.cpus])


def thread_env(threads: int) -> dict[str, str]:
    """Thread-pool sizes for the usual numeric libraries, so a 2-vCPU job does not spawn 64 threads."""
    value = str(max(1, threads))
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
    return {name: value for name in (*names, "VECLIB_MAXIMUM_THREADS")}


def taskset_prefix(cpus: Iterable[int]) -> list[str]:
    """An argv prefix pinning the worker to `cpus` (`taskset -c`), or [] where taskset is missing."""
    taskset = shutil.which("taskset", path=SYSTEM_PATH)
    cores = ",".join(str(c) for c in sorted(cpus))
    return [taskset, "-c", cores] if taskset and cores else []
