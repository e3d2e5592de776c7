"""The filesystem ObjectStore's blob files: written verified and fsynced, tracked until committed."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from sagemill.objectstore.base import Expected, Readable
from sagemill.objectstore.checksums import Digests, verify
from sagemill.objectstore.streams import CHUNK, MeteredReader


class BlobFiles:
    """Blob files under `root/blobs`, named by random ids; bodies being written wait under `root/tmp`."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "blobs"
        self.tmp = root / "tmp"
        for folder in (self.dir, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        # Temporary files and blobs not yet committed: garbage collection must leave them alone.
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()

    def path(self, blob: str) -> Path:
        return self.dir / blob[:2] / blob

    def write(self, body: Readable, expected: Expected, algorithms: tuple[str, ...]) -> tuple[str, Digests]:
        """Stream a body into a new blob file, verified and fsynced; returns its name and digests.

        The blob stays registered as in flight until `settle` says its catalog row has committed
        (or was abandoned).
        """
        wanted = tuple(dict.fromkeys((*algorithms, *expected.checksums)))
        reader = MeteredReader(body, Digests(wanted), expected.size)
        name = uuid.uuid4().hex
        temp = self.tmp / name
        self._track(name)
        try:
            with temp.open("wb") as out:
                while chunk := reader.read(CHUNK):
                    out.write(chunk)
                verify(reader.digests, expected)
                out.flush()
                os.fsync(out.fileno())
            target = self.path(name)
            target.parent.mkdir(exist_ok=True)
            os.replace(temp, target)
            _fsync_dir(target.parent)
            return name, reader.digests
        except BaseException:
            temp.unlink(missing_ok=True)
            self.settle(name)
            raise

    def _track(self, name: str) -> None:
        with self._in_flight_lock:
            self._in_flight.add(name)

    def settle(self, name: str) -> None:
        """The blob's catalog row has committed, or was abandoned: it is no longer in flight."""
        with self._in_flight_lock:
            self._in_flight.discard(name)

    def read(self, blob: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `start` to `end` (inclusive) of a blob; raises FileNotFoundError at once if it is gone."""
        # Opened eagerly so a concurrent overwrite (which unlinks the blob) cannot pull it away.
        handle = self.path(blob).open("rb")

        def chunks() -> Iterator[bytes]:
            with handle:
                handle.seek(start)
                remaining = end - start + 1
                while remaining > 0:
                    chunk = handle.read(min(CHUNK, remaining))
                    if not chunk:
                        return
                    remaining -= len(chunk)
                    yield chunk

        return chunks()

    def unlink(self, blobs: list[str]) -> None:
        for blob in blobs:
            self.path(blob).unlink(missing_ok=True)

    def collect_garbage(self, referenced: Callable[[], set[str]]) -> None:
        """Remove temporary files and blobs that `referenced()` does not name (left by a crash).

        Safe while this store is writing: files are listed first, then the writes in flight are
        noted, then the catalog is read. A blob listed but neither in flight at that moment nor
        referenced afterwards was committed by nobody (a writer commits before it stops being in
        flight) or was already replaced (its replacer unlinks it anyway).
        """
        temps = list(self.tmp.iterdir())
        blobs = [blob for folder in self.dir.iterdir() for blob in folder.iterdir()]
        with self._in_flight_lock:
            in_flight = set(self._in_flight)
        named = referenced()
        for temp in temps:
            if temp.name not in in_flight:
                temp.unlink(missing_ok=True)
        for blob in blobs:
            if blob.name not in in_flight and blob.name not in named:
                blob.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
