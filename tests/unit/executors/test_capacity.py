"""Instance sizing, admission against the machine's capacity, and thread/core suggestions."""

from __future__ import annotations

import os

import pytest

from sagemill.executors.capacity import (
    INSTANCE_TYPES,
    CapacityPlanner,
    InstanceShape,
    Machine,
    Reservation,
    UnknownInstanceType,
    instance_shape,
    taskset_prefix,
    thread_env,
)


@pytest.mark.parametrize(
    ("instance_type", "shape"),
    [
        ("ml.m5.large", InstanceShape(2, 8 * 1024)),
        ("ml.m5.24xlarge", InstanceShape(96, 384 * 1024)),
        ("ml.m6i.32xlarge", InstanceShape(128, 512 * 1024)),
        ("ml.c5.9xlarge", InstanceShape(36, 72 * 1024)),
        ("ml.c6i.xlarge", InstanceShape(4, 8 * 1024)),
        ("ml.r5.2xlarge", InstanceShape(8, 64 * 1024)),
        ("ml.g4dn.12xlarge", InstanceShape(48, 192 * 1024, 4)),
        ("ml.g5.xlarge", InstanceShape(4, 16 * 1024, 1)),
        ("ml.p3.2xlarge", InstanceShape(8, 61 * 1024, 1)),
    ],
)
def test_table(instance_type: str, shape: InstanceShape) -> None:
    assert instance_shape(instance_type) == shape


@pytest.mark.parametrize(
    ("instance_type", "vcpus", "memory_gib"),
    [
        ("ml.m7i.large", 2, 8),
        ("ml.c7i.4xlarge", 16, 32),
        ("ml.r7i.xlarge", 4, 32),
        ("ml.x2iedn.2xlarge", 8, 128),
        ("ml.t4g.medium", 1, 4),
        ("ml.trn1.32xlarge", 128, 512),
    ],
)
def test_unknown_ml_types_are_sized_by_name(instance_type: str, vcpus: int, memory_gib: int) -> None:
    assert instance_type not in INSTANCE_TYPES
    assert instance_shape(instance_type) == InstanceShape(vcpus, memory_gib * 1024)


@pytest.mark.parametrize("instance_type", ["m5.large", "ml.m5", "ml.m5.metal", "local", "ml.m5.hugelarge"])
def test_unsizable_types_are_refused(instance_type: str) -> None:
    with pytest.raises(UnknownInstanceType):
        instance_shape(instance_type)


def test_machine_overrides_and_detection() -> None:
    env = {"SAGEMILL_CAPACITY_CPUS": "8", "SAGEMILL_CAPACITY_MEMORY_MB": "32768"}
    assert Machine.detect(env) == Machine(8, 32768)
    detected = Machine.detect({})
    assert 1 <= detected.cpus <= (os.cpu_count() or 1) and detected.memory_mib > 0


def test_jobs_beyond_capacity_wait() -> None:
    planner = CapacityPlanner(Machine(cpus=8, memory_mib=32 * 1024))
    large = planner.reservation("ml.m5.large")
    assert large == Reservation(2, 8 * 1024)
    running: list[Reservation] = []
    for _ in range(4):
        assert planner.fits(large, running)
        running.append(large)
    assert not planner.fits(large, running)  # 8 CPUs are taken
    assert planner.free(running) == Reservation(0, 0)
    assert planner.fits(large, running[:3])


def test_memory_bound_jobs_wait_too() -> None:
    planner = CapacityPlanner(Machine(cpus=64, memory_mib=40 * 1024))
    r5 = planner.reservation("ml.r5.xlarge")  # 4 vCPU, 32 GiB
    assert planner.fits(r5, [])
    assert not planner.fits(r5, [r5])


def test_types_larger_than_the_machine_are_clamped_and_run_alone() -> None:
    planner = CapacityPlanner(Machine(cpus=4, memory_mib=16 * 1024))
    huge = planner.reservation("ml.m5.24xlarge", instance_count=2)
    assert huge == Reservation(4, 16 * 1024)
    assert planner.fits(huge, [])
    assert not planner.fits(huge, [planner.reservation("ml.m5.large")])


def test_thread_suggestions() -> None:
    planner = CapacityPlanner(Machine(cpus=8, memory_mib=64 * 1024))
    env = thread_env(planner.reservation("ml.m5.large").cpus)
    assert env["OMP_NUM_THREADS"] == "2" and env["MKL_NUM_THREADS"] == "2"
    assert env["OPENBLAS_NUM_THREADS"] == "2"
    assert thread_env(0)["OMP_NUM_THREADS"] == "1"


def test_pick_cpus_prefers_free_cores() -> None:
    usable = sorted(os.sched_getaffinity(0))
    planner = CapacityPlanner(Machine(cpus=len(usable), memory_mib=1024))
    one = Reservation(1, 0)
    assert planner.pick_cpus(one) == usable[:1]
    if len(usable) > 1:
        assert planner.pick_cpus(one, busy=[usable[0]]) == [usable[1]]
    # More wanted than free: busy cores are shared rather than the job getting too few.
    everything = Reservation(len(usable), 0)
    assert planner.pick_cpus(everything, busy=usable) == usable


def test_taskset_prefix() -> None:
    prefix = taskset_prefix([1, 0])
    assert prefix == [] or (prefix[1:] == ["-c", "0,1"] and prefix[0].endswith("taskset"))
    assert taskset_prefix([]) == []
