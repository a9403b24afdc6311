"""One binary COPY kept open across a writer's calls, sent by a thread of its own.

A first load sends each checked chunk straight into its table. With one
``COPY`` per chunk, the caller waits at the end of every chunk for the
server to take in the whole of it, and the server waits while the caller
reads and checks the next one: each side idles half the time. A
:class:`CopyStream` keeps one ``COPY ... FROM STDIN (FORMAT binary)`` open
for the whole load instead, and a sender thread encodes and sends the blocks
the caller hands it, so the server copies chunk *k* while the caller checks
chunk *k + 1*, each on its own core.

The hand-over queue holds at most :data:`QUEUE_DEPTH` chunks: a caller
faster than the server waits for it rather than holding the file in memory.
Nothing else may use the connection while a stream is open; the writer ends
the stream before any other statement. An error in the thread (the server
refusing a value, the connection lost) is raised in the caller at its next
:meth:`CopyStream.send` or at :meth:`CopyStream.close`, and :meth:`abort`
cancels the COPY, so the writer's transaction rolls back as it would after
any failed statement.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

import geo.store.pgcopy as pgcopy

QUEUE_DEPTH = 2
"""Chunks handed to the sender and not yet sent, at most."""

_POLL_S = 0.2
"""Seconds between checks that the sender is still alive while the queue is full."""


class _Abort(Exception):
    """Raised in the sender to cancel the COPY (its message reaches the server's log)."""

    def __init__(self) -> None:
        super().__init__("the load was interrupted")


_END = object()
_ABORT = object()


class CopyStream:
    """An open ``COPY`` on ``conn``, fed in blocks of bytes by a sender thread.

    Parameters
    ----------
    conn
        The writer's connection, inside its transaction. Only the sender
        uses it until :meth:`close` or :meth:`abort` returns.
    statement
        ``COPY <table> (<columns>) FROM STDIN (FORMAT binary)``; the stream
        writes the binary signature first and the trailer last.
    """

    def __init__(self, conn: psycopg.Connection[Any], statement: sql.Composed) -> None:
        self._conn = conn
        self._statement = statement
        self._queue: queue.Queue[object] = queue.Queue(maxsize=QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._send_all, name="engage-copy", daemon=True)
        self._thread.start()

    def _send_all(self) -> None:
        try:
            with self._conn.cursor() as cur, cur.copy(self._statement) as copy:
                copy.write(pgcopy.SIGNATURE)
                while True:
                    item = self._queue.get()
                    if item is _END:
                        copy.write(pgcopy.TRAILER)
                        break
                    if item is _ABORT:
                        raise _Abort
                    for block in item:  # type: ignore[attr-defined]
                        copy.write(block)
        except _Abort:
            pass
        except BaseException as exc:  # raised in the caller's thread
            self._error = exc

    def _put(self, item: object) -> None:
        """Hand ``item`` to the sender, waiting while the queue is full and it is alive."""
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._raise_if_failed()
                    msg = "the COPY sender stopped"
                    raise RuntimeError(msg) from None

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._closed = True
            raise error

    def send(self, blocks: Iterable[bytes | memoryview]) -> None:
        """Queue ``blocks`` (each a part of the COPY data); they are encoded and sent in order.

        ``blocks`` may be a generator: it is iterated in the sender thread, so
        building each block overlaps the caller's next step.
        """
        if self._closed:
            msg = "the COPY stream is closed"
            raise RuntimeError(msg)
        self._put(blocks)

    def close(self) -> None:
        """End the COPY and wait for the server to take in every row; raise its error, if any."""
        if self._closed:
            return
        self._closed = True
        try:
            self._put(_END)
        finally:
            self._thread.join()
        self._raise_if_failed()

    def abort(self) -> None:
        """Cancel the COPY (the transaction then rolls back); never raises the sender's error."""
        if self._closed:
            self._thread.join()
            return
        self._closed = True
        # The sender takes items in order: drop what it has not started, so the
        # cancel is not queued behind them.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        while self._thread.is_alive():
            try:
                self._queue.put(_ABORT, timeout=_POLL_S)
                break
            except queue.Full:
                continue
        self._thread.join()
        self._error = None
