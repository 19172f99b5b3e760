"""A bounded pipe of byte chunks between two threads, and a thread that works beside.

Packing and unpacking run their stages on both cores at once this way: the archive is
checked while it is compressed, and decompressed while the files are hashed and
written. zstd, sha256 and file I/O release the GIL, so the stages overlap for real.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_END = b""


class PipeClosed(Exception):
    """The reading side gave up (it failed, or the writer's caller stopped)."""


class Pipe:
    """Chunks written by one thread, read as a forward-only file by another; at most
    *depth* chunks wait.

    ``read`` returns *size* bytes (fewer only at the end), ``read_view`` at most *size*
    bytes without copying them, ``seek`` skips forward; ``fail`` hands an exception to
    the reader instead of the rest of the bytes.
    """

    def __init__(self, depth: int = 16) -> None:
        self._queue: queue.Queue[bytes | bytearray | BaseException] = queue.Queue(depth)
        self._item: bytes | bytearray = b""
        self._pos = 0
        self._offset = 0  # bytes read so far
        self._ended = False
        self.abandoned = False  # set by the reader: later writes are dropped

    # -- the writing side --------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Queue *data*; a bytearray is handed over as it is (its writer leaves it alone)."""
        if self.abandoned:
            raise PipeClosed("the reader stopped")
        if data:
            self._put(data if isinstance(data, (bytes, bytearray)) else bytes(data))
        return len(data)

    def close(self) -> None:
        self._put(_END)

    def fail(self, exc: BaseException) -> None:
        self._put(exc)

    def _put(self, item: bytes | bytearray | BaseException) -> None:
        while not self.abandoned:
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- the reading side --------------------------------------------------------------

    def read_view(self, size: int) -> bytes | memoryview:
        """At most *size* bytes (b"" at the end), as a view into the chunk they are in."""
        if self._pos >= len(self._item):
            if self._ended:
                return b""
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._ended = True
                raise item
            if not item:
                self._ended = True
                return b""
            self._item, self._pos = item, 0
        start = self._pos
        if start == 0 and size >= len(self._item) and isinstance(self._item, bytes):
            view: bytes | memoryview = self._item
        else:
            view = memoryview(self._item)[start : start + size]
        self._pos += len(view)
        self._offset += len(view)
        return view

    def read(self, size: int = -1) -> bytes:
        parts = []
        wanted = size if size >= 0 else 1 << 62
        while wanted > 0 and (view := self.read_view(wanted)):
            parts.append(view)
            wanted -= len(view)
        if len(parts) == 1 and isinstance(parts[0], bytes):
            return parts[0]
        return b"".join(parts)

    def tell(self) -> int:
        return self._offset

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0 or offset < self._offset:
            raise OSError("a pipe only skips forward")
        while self._offset < offset and self.read_view(offset - self._offset):
            pass
        return self._offset

    def abandon(self) -> None:
        """The reader stops: the writer's next write raises, and nothing blocks it."""
        self.abandoned = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return


class Beside(Generic[T]):
    """*work* run in a thread of its own; ``result`` waits for it and re-raises its error."""

    def __init__(self, work: Callable[[], T], name: str) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._value = work()
        except BaseException as exc:  # handed to the thread that waits for the result
            self._error = exc

    @property
    def failed(self) -> bool:
        return self._error is not None

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
