"""Safe tar.gz handling for user archives (sourcedir.tar.gz, model.tar.gz) and the artifacts we pack.

Extraction refuses, naming the member: absolute paths, any `..` component, symlinks or hard links
that resolve outside the destination (absolute targets included), device files and FIFOs, and any
member whose path, through links already extracted, would land outside the destination. Our checks
run first, then tarfile's own `data` filter (which also strips set-uid bits and ownership) as a second
line. Extraction streams member by member, so a refused archive leaves in `dest` the members before
the refused one (all of them checked and inside `dest`); callers discard `dest` on `UnsafeArchive`.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

Source = bytes | Path | BinaryIO


class UnsafeArchive(ValueError):
    """An archive member that would escape the destination or create something other than files."""

    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"unsafe archive member {member!r}: {reason}")
        self.member = member
        self.reason = reason


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _check(member: tarfile.TarInfo, root: str) -> None:
    name = member.name
    if name.startswith("/") or os.path.isabs(name):
        raise UnsafeArchive(name, "absolute path")
    if ".." in PurePosixPath(name).parts:
        raise UnsafeArchive(name, "'..' in path")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeArchive(name, "special file (device, FIFO or unknown type)")
    # realpath resolves the links earlier members created, which is how `a -> .` then
    # `a/../x`-style tricks and writes through a planted link are caught.
    if not _inside(os.path.realpath(os.path.join(root, name)), root):
        raise UnsafeArchive(name, "path escapes the destination")
    if member.issym() or member.islnk():
        kind = "symlink" if member.issym() else "hard link"
        if not member.linkname or os.path.isabs(member.linkname):
            raise UnsafeArchive(name, f"{kind} to an absolute path {member.linkname!r}")
        # A symlink is relative to its own directory, a hard link to the archive root.
        base = os.path.dirname(name) if member.issym() else ""
        if not _inside(os.path.realpath(os.path.join(root, base, member.linkname)), root):
            raise UnsafeArchive(name, f"{kind} to {member.linkname!r} points outside the destination")


def _open_source(source: Source) -> tuple[BinaryIO, bool]:
    """(file object, whether we opened it and must close it)."""
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(source), True
    if isinstance(source, Path):
        return open(source, "rb"), True  # closed by extract_tar_gz
    return source, False


def extract_tar_gz(source: Source, dest: Path, *, max_bytes: int | None = None) -> list[str]:
    """Extract a tar (gzip or plain, detected) into `dest`; returns the member names in archive order.

    `source` is the archive's bytes, its path, or a readable binary stream (read once, in order).
    `max_bytes` bounds the total size of the files, against decompression bombs.
    """
    dest.mkdir(parents=True, exist_ok=True)
    root = os.path.realpath(dest)
    fileobj, owned = _open_source(source)
    names: list[str] = []
    total = 0
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
            for member in tar:
                _check(member, root)
                total += member.size if member.isreg() else 0
                if max_bytes is not None and total > max_bytes:
                    raise UnsafeArchive(member.name, f"archive expands beyond {max_bytes} bytes")
                try:
                    tar.extract(member, root, filter="data")
                except tarfile.FilterError as exc:
                    raise UnsafeArchive(member.name, str(exc)) from exc
                names.append(member.name)
    finally:
        if owned:
            fileobj.close()
    return names


# --- packing -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Packed:
    """What `create_tar_gz` wrote, and what it left out (links leaving the tree, special files)."""

    members: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _walk(root: Path, relative: str = "") -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Entries under `root`, depth first with names sorted, so archives are reproducible."""
    with os.scandir(root / relative if relative else root) as it:
        entries = sorted(it, key=lambda entry: entry.name)
    for entry in entries:
        name = f"{relative}/{entry.name}" if relative else entry.name
        yield name, entry
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(root, name)


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    # Owner names and ids of the host say nothing useful and leak who ran the job.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = stat.S_IMODE(st.st_mode) & 0o755
    info.mtime = int(st.st_mtime)
    return info


def create_tar_gz(src_dir: Path, fileobj: BinaryIO, *, compresslevel: int = 6) -> Packed:
    """Stream a tar.gz of `src_dir` into `fileobj`: members relative to `src_dir`, sorted, files and dirs.

    Symlinks are kept only when relative and resolving inside `src_dir`; others, and special files,
    are skipped (listed in the result) so an artifact can never carry a host file or a hostile link.
    """
    packed = Packed()
    root = os.path.realpath(src_dir)
    # gzip's header time is fixed so that the same tree gives the same bytes.
    with (
        gzip.GzipFile(fileobj=fileobj, mode="wb", compresslevel=compresslevel, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, entry in _walk(src_dir):
            st = entry.stat(follow_symlinks=False)
            info = _info(name, st)
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                info.size = st.st_size
                with open(entry.path, "rb") as data:
                    tar.addfile(info, data)
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(entry.path)
                resolved = os.path.realpath(os.path.join(os.path.dirname(entry.path), target))
                if os.path.isabs(target) or not _inside(resolved, root):
                    packed.skipped.append(name)
                    continue
                info.type = tarfile.SYMTYPE
                info.linkname = target
                tar.addfile(info)
            else:
                packed.skipped.append(name)
                continue
            packed.members.append(name)
    return packed
