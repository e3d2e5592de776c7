"""Body adapters shared by the ObjectStore adapters: bounded reads that digest as they go."""

from __future__ import annotations

from collections.abc import Iterator

from sagemill.objectstore.base import IncompleteBody, Readable
from sagemill.objectstore.checksums import Digests

CHUNK = 1024 * 1024
"""How much one read asks for: big enough to be cheap, small enough to keep memory flat."""


class IteratorReader:
    """Adapts an iterator of chunks to read(n)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1, /) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


class MeteredReader:
    """Reads a body through `digests`, never past `limit` bytes, and refuses to end early.

    When `limit` is set, running dry before it raises IncompleteBody (remembered in `failure`, so a
    caller whose HTTP client wrapped the exception can still tell what went wrong).
    """

    def __init__(self, body: Readable, digests: Digests, limit: int | None) -> None:
        self._body = body
        self.digests = digests
        self._remaining = limit
        self.failure: BaseException | None = None

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._read(size)
        except BaseException as exc:
            self.failure = exc
            raise

    def _read(self, size: int) -> bytes:
        if self._remaining is None:
            chunk = self._body.read(size)
        elif self._remaining == 0:
            return b""
        else:
            want = self._remaining if size < 0 else min(size, self._remaining)
            chunk = self._body.read(want)
            if not chunk:
                got = self.digests.size
                raise IncompleteBody(f"expected {got + self._remaining} bytes, got {got}")
            self._remaining -= len(chunk)
        self.digests.update(chunk)
        return chunk
