"""A private /opt/ml per worker: a mount-namespace probe and the argv wrapper that bind-mounts the job tree.

The decision and its fallback are described in executors/container.py, which re-exports these names.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

OPT_ML = Path("/opt/ml")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""Where the helpers are looked up, and the PATH workers get: never the server's own PATH."""


def _namespace_tools() -> tuple[str, str, str, str] | None:
    found = [shutil.which(name, path=SYSTEM_PATH) for name in ("unshare", "sh", "mkdir", "mount")]
    unshare, sh, mkdir, mount = found
    if unshare and sh and mkdir and mount:
        return unshare, sh, mkdir, mount
    return None


@functools.cache
def opt_ml_namespace_available() -> bool:
    """Whether workers can get a private /opt/ml: Linux, root, util-linux, and a bind mount that works."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    tools = _namespace_tools()
    opt = OPT_ML.parent
    mount_point_ok = OPT_ML.is_dir() or os.access(opt if opt.is_dir() else opt.parent, os.W_OK)
    if tools is None or not mount_point_ok:
        return False
    unshare, sh, _, mount = tools
    with tempfile.TemporaryDirectory(prefix="sagemill-probe-") as tmp:
        source, target = Path(tmp, "source"), Path(tmp, "target")
        source.mkdir()
        target.mkdir()
        (source / "probe").touch()
        script = '"$1" --bind "$2" "$3" && test -e "$3/probe"'
        argv = [unshare, "--mount", "--propagation", "private", "--", sh, "-c", script, "probe"]
        try:
            result = subprocess.run(
                [*argv, mount, str(source), str(target)],
                env={"PATH": SYSTEM_PATH},
                capture_output=True,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return result.returncode == 0


_BIND_SCRIPT = (
    '"$1" -p /opt/ml && "$2" --bind "$3" /opt/ml || '
    '{ echo "sagemill: cannot bind-mount $3 on /opt/ml" >&2; exit 125; }; shift 3; exec "$@"'
)


def wrap_with_opt_ml(argv: Sequence[str], layout_root: Path) -> list[str]:
    """`argv` run in a private mount namespace where `layout_root` is mounted on /opt/ml.

    `unshare` execs the shell, which execs `argv`: the worker keeps the pid (and process group)
    the executor started, so stop signals reach it directly. A failed mount exits 125.
    """
    tools = _namespace_tools()
    if tools is None:
        raise RuntimeError("unshare, sh, mkdir or mount is missing: no private /opt/ml on this host")
    unshare, sh, mkdir, mount = tools
    prefix = [unshare, "--mount", "--propagation", "private", "--", sh, "-c", _BIND_SCRIPT, "sagemill-opt-ml"]
    return [*prefix, mkdir, mount, str(layout_root), *argv]
