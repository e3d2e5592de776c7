"""The files a local worker leaves in its workdir, written atomically, and the /proc checks that read them.

Everything the executor knows about a worker lives in these files, so any process (a restarted API
server, an operator's CLI) can observe or stop it. Records are small JSON files, mode 0600 (the
spec holds the job's environment), never rewritten once they mean something:

    spec.json        executor    what to run (argv, env, cwd, labels)
    supervisor.json  both        the supervisor's pid and identity (whichever writes first; same facts)
    worker.json      supervisor  the worker's pid, process group and identity, once it is started
    exit.json        supervisor  the worker's exit status; its presence means "ended and accounted for"
    stop.json        executor    a stop request and its grace period (the first request stands)
    reaper.json      executor    the fallback killer spawned when the supervisor was already gone
    supervisor.lock  supervisor  flock held for the supervisor's whole life: two never run one workdir
    start.lock       executor    flock held while starting: concurrent starts of one workdir serialise
    worker.log       worker      stdout and stderr, appended; supervisor.log has the supervisor's own
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPEC = "spec.json"
SUPERVISOR = "supervisor.json"
WORKER = "worker.json"
EXIT = "exit.json"
STOP = "stop.json"
REAPER = "reaper.json"
SUPERVISOR_LOCK = "supervisor.lock"
START_LOCK = "start.lock"
SUPERVISOR_LOG = "supervisor.log"
WORKER_LOG = "worker.log"

DEFAULT_GRACE_SECONDS = 120.0
"""Used when the supervisor is sent SIGTERM without a stop.json (a host shutdown): SageMaker's grace."""


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` so that readers see either nothing or the whole record: temp file, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, json.dumps(data, sort_keys=True).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    # The rename itself must survive a crash too, or a reboot could forget that a job ended.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_json(path: Path) -> dict[str, Any] | None:
    """The record at `path`, or None when it does not exist (yet)."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def lock_is_held(path: Path) -> bool:
    """Whether another open file description holds an flock on `path` (never blocks)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe lock if it was taken
    return False


def try_lock(path: Path) -> int | None:
    """Take an exclusive flock on `path` and return its fd, or None if someone else holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


# --- process identity ----------------------------------------------------------------------------
# A pid alone is not an identity: after the process dies the kernel hands the number to someone else.
# (pid, start time in clock ticks since boot, boot id) is, so every record stores all three.


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    pid: int
    start_ticks: int | None
    boot_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_ticks": self.start_ticks, "boot_id": self.boot_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessIdentity:
        return cls(int(data["pid"]), data.get("start_ticks"), data.get("boot_id"))


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may itself contain spaces or ')')."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def identify(pid: int) -> ProcessIdentity:
    """The identity of a live process (start_ticks is None where /proc is unavailable)."""
    fields = _stat_fields(pid) if Path("/proc/self/stat").exists() else None
    return ProcessIdentity(pid, int(fields[19]) if fields else None, boot_id())


def is_alive(who: ProcessIdentity) -> bool:
    """Whether the process `who` names still runs: same boot, same start time, and not a zombie."""
    if who.boot_id is not None and who.boot_id != boot_id():
        return False
    if who.start_ticks is None:
        # No /proc (not Linux): fall back to signal 0, accepting the pid-reuse risk.
        try:
            os.kill(who.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = _stat_fields(who.pid)
    # fields[0] is the state ('Z' = exited, waiting to be reaped), fields[19] the start time.
    return fields is not None and fields[0] not in ("Z", "X") and int(fields[19]) == who.start_ticks


def now_ticks() -> int:
    """The current time in the clock /proc/<pid>/stat start times use (ticks since boot)."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return int(uptime * os.sysconf("SC_CLK_TCK"))


def group_members(pgid: int, after_ticks: int, before_ticks: int) -> list[int]:
    """Live pids in process group `pgid` that started between the two times (ticks since boot).

    The window keeps a reused group id from being mistaken for ours: members of our group started
    after its leader (`after_ticks`), and a group that took over the number was created after every
    member of ours was gone, so after a moment (`before_ticks`) at which ours was seen alive.
    """
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None or fields[0] in ("Z", "X"):
            continue
        if int(fields[2]) == pgid and after_ticks <= int(fields[19]) <= before_ticks:
            members.append(int(entry.name))
    return members
