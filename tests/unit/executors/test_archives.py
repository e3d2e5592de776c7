"""Archive safety: hostile tarballs are refused by name, and our own archives are clean and reproducible."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from sagemill.executors.archives import UnsafeArchive, create_tar_gz, extract_tar_gz

Member = tuple[str, bytes | None, Callable[[tarfile.TarInfo], None] | None]


def build(*members: Member, compression: str = "gz") -> bytes:
    """A tar.gz with the given members: (name, file data or None, a tweak of the TarInfo)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compression == "gz" else "w") as tar:
        for name, data, tweak in members:
            info = tarfile.TarInfo(name)
            if data is not None:
                info.size = len(data)
            if tweak is not None:
                tweak(info)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def symlink(target: str) -> Callable[[tarfile.TarInfo], None]:
    def tweak(info: tarfile.TarInfo) -> None:
        info.type, info.linkname = tarfile.SYMTYPE, target

    return tweak


def hardlink(target: str) -> Callable[[tarfile.TarInfo], None]:
    def tweak(info: tarfile.TarInfo) -> None:
        info.type, info.linkname = tarfile.LNKTYPE, target

    return tweak


def kind(type_: bytes) -> Callable[[tarfile.TarInfo], None]:
    def tweak(info: tarfile.TarInfo) -> None:
        info.type = type_

    return tweak


class OneWayReader:
    """A stream that can only be read forward, like an HTTP body."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


class OneWayWriter:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def test_extracts_files_dirs_and_inner_links(tmp_path: Path) -> None:
    archive = build(
        ("pkg", None, kind(tarfile.DIRTYPE)),
        ("pkg/train.py", b"print('hi')\n", None),
        ("pkg/lib/alias.py", None, symlink("../train.py")),
        ("pkg/copy.py", None, hardlink("pkg/train.py")),
        ("requirements.txt", b"numpy\n", None),
    )
    dest = tmp_path / "code"
    names = extract_tar_gz(archive, dest)
    assert names == ["pkg", "pkg/train.py", "pkg/lib/alias.py", "pkg/copy.py", "requirements.txt"]
    assert (dest / "pkg/lib/alias.py").read_text() == "print('hi')\n"
    assert (dest / "pkg/copy.py").read_text() == "print('hi')\n"
    assert (dest / "pkg/lib/alias.py").is_symlink()


@pytest.mark.parametrize("source", ["bytes", "path", "stream"])
def test_accepts_bytes_paths_and_forward_only_streams(tmp_path: Path, source: str) -> None:
    archive = build(("a.txt", b"A", None))
    (tmp_path / "in.tar.gz").write_bytes(archive)
    inputs = {
        "bytes": archive,
        "path": tmp_path / "in.tar.gz",
        "stream": OneWayReader(archive),
    }
    extract_tar_gz(inputs[source], tmp_path / "out")  # type: ignore[arg-type]
    assert (tmp_path / "out/a.txt").read_text() == "A"


def test_plain_tar_is_accepted(tmp_path: Path) -> None:
    extract_tar_gz(build(("a.txt", b"A", None), compression=""), tmp_path)
    assert (tmp_path / "a.txt").read_text() == "A"


@pytest.mark.parametrize(
    ("members", "culprit", "reason"),
    [
        ([("/ABS/evil", b"x", None)], "/ABS/evil", "absolute path"),
        ([("../evil", b"x", None)], "../evil", "'..'"),
        ([("a/../../evil", b"x", None)], "a/../../evil", "'..'"),
        ([("a/../inside", b"x", None)], "a/../inside", "'..'"),
        ([("passwd", None, symlink("/etc/passwd"))], "passwd", "absolute path"),
        ([("up", None, symlink("../../etc"))], "up", "outside the destination"),
        ([("sub/up", None, symlink("../.."))], "sub/up", "outside the destination"),
        ([("hard", None, hardlink("/etc/passwd"))], "hard", "absolute path"),
        ([("hard", None, hardlink("../outside/secret"))], "hard", "outside the destination"),
        ([("tty", None, kind(tarfile.CHRTYPE))], "tty", "special file"),
        ([("disk", None, kind(tarfile.BLKTYPE))], "disk", "special file"),
        ([("pipe", None, kind(tarfile.FIFOTYPE))], "pipe", "special file"),
        # Each link alone resolves inside; the second is relative to where the first really points.
        ([("d/e", None, symlink("..")), ("d/e/f", None, symlink(".."))], "d/e/f", "outside"),
        # A link to the outside is refused before anything can be written through it.
        ([("sub", None, symlink("..")), ("sub/evil", b"x", None)], "sub", "outside the destination"),
    ],
)
def test_hostile_archives_are_refused_by_member(
    tmp_path: Path, members: list[Member], culprit: str, reason: str
) -> None:
    dest = tmp_path / "inner" / "dest"
    archive = build(*[(n.replace("/ABS", str(tmp_path)), d, t) for n, d, t in members])
    with pytest.raises(UnsafeArchive) as caught:
        extract_tar_gz(archive, dest)
    assert caught.value.member == culprit.replace("/ABS", str(tmp_path))
    assert reason in caught.value.reason
    assert caught.value.member in str(caught.value)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "inner" / "evil").exists()
    assert {p.name for p in tmp_path.iterdir()} == {"inner"}


def test_no_write_through_a_link_already_in_the_destination(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", dest / "planted")
    with pytest.raises(UnsafeArchive, match="escapes the destination") as caught:
        extract_tar_gz(build(("planted/evil", b"x", None)), dest)
    assert caught.value.member == "planted/evil"
    assert list((tmp_path / "outside").iterdir()) == []


def test_size_limit_stops_decompression_bombs(tmp_path: Path) -> None:
    archive = build(("a", b"x" * 600, None), ("b", b"x" * 600, None))
    with pytest.raises(UnsafeArchive, match="beyond 1000 bytes") as caught:
        extract_tar_gz(archive, tmp_path, max_bytes=1000)
    assert caught.value.member == "b"


def test_setuid_bits_and_ownership_are_dropped(tmp_path: Path) -> None:
    def suid(info: tarfile.TarInfo) -> None:
        info.mode, info.uid, info.uname = 0o4777, 12345, "someone"

    extract_tar_gz(build(("tool", b"#!/bin/sh\n", suid)), tmp_path)
    mode = stat.S_IMODE((tmp_path / "tool").stat().st_mode)
    assert mode & (stat.S_ISUID | stat.S_IWGRP | stat.S_IWOTH) == 0
    assert (tmp_path / "tool").stat().st_uid == os.getuid()


# --- packing -------------------------------------------------------------------------------------


def model_tree(root: Path) -> Path:
    (root / "nested/deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "xgboost-model").write_bytes(b"model")
    (root / "nested/b.txt").write_text("b")
    (root / "nested/a.txt").write_text("a")
    (root / "nested/deeper/c.bin").write_bytes(b"\x00\x01")
    os.symlink("nested/a.txt", root / "alias")
    os.symlink("/etc/passwd", root / "host-file")
    os.symlink("../../outside", root / "nested/escape")
    os.mkfifo(root / "pipe")
    return root


def test_create_is_relative_sorted_clean_and_round_trips(tmp_path: Path) -> None:
    src = model_tree(tmp_path / "model")
    out = io.BytesIO()
    packed = create_tar_gz(src, out)
    assert packed.members == [
        "alias",
        "empty",
        "nested",
        "nested/a.txt",
        "nested/b.txt",
        "nested/deeper",
        "nested/deeper/c.bin",
        "xgboost-model",
    ]
    assert sorted(packed.skipped) == ["host-file", "nested/escape", "pipe"]
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:gz") as tar:
        for info in tar.getmembers():
            assert not info.name.startswith(("/", "./")) and ".." not in info.name.split("/")
            assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "", "")
    dest = tmp_path / "unpacked"
    extract_tar_gz(out.getvalue(), dest)
    assert (dest / "xgboost-model").read_bytes() == b"model"
    assert (dest / "alias").read_text() == "a"
    assert (dest / "nested/deeper/c.bin").read_bytes() == b"\x00\x01"
    assert (dest / "empty").is_dir()


def test_create_streams_to_a_forward_only_writer_and_is_reproducible(tmp_path: Path) -> None:
    src = model_tree(tmp_path / "model")
    first, second = OneWayWriter(), OneWayWriter()
    create_tar_gz(src, first)  # type: ignore[arg-type]
    create_tar_gz(src, second)  # type: ignore[arg-type]
    assert b"".join(first.chunks) == b"".join(second.chunks)
    assert len(first.chunks) > 1 or len(b"".join(first.chunks)) > 0
