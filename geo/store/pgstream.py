"""One binary COPY kept open across a writer's calls, sent by a thread of its own.

A first load sends each checked chunk straight into its table. With one
``COPY`` per chunk, the caller waits at the end of every chunk for the
server to take in the whole of it, and the server waits while the caller
reads and checks the next one: each side idles half the time. A
:class:`CopyStream` keeps one ``COPY ... FROM STDIN (FORMAT binary)`` open
for the whole load instead, and a sender thread encodes and sends the blocks
the caller hands it, so the server copies chunk *k* while the caller checks
chunk *k + 1*, each on its own core.

The thread and its short queue are a :class:`geo.store.sender.Sender`.
Nothing else may use the connection while a stream is open; the writer ends
the stream before any other statement. An error in the thread (the server
refusing a value, the connection lost) is raised in the caller at its next
:meth:`CopyStream.send` or at :meth:`CopyStream.close`, and
:meth:`CopyStream.abort` cancels the COPY (psycopg ends it with an error
when the sender's body stops with one), so the writer's transaction rolls
back as it would after any failed statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg import sql

import geo.store.pgcopy as pgcopy
from geo.store.sender import Sender


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
        self._sender = Sender(self._copy, name="engage-copy")

    def _copy(self, items: Iterator[object]) -> None:
        with self._conn.cursor() as cur, cur.copy(self._statement) as copy:
            copy.write(pgcopy.SIGNATURE)
            for blocks in items:
                for block in blocks:  # type: ignore[attr-defined]
                    copy.write(block)
            copy.write(pgcopy.TRAILER)

    def send(self, blocks: Iterable[bytes | memoryview]) -> None:
        """Queue ``blocks`` (each a part of the COPY data); they are built and sent in order.

        ``blocks`` may be a generator: it is iterated in the sender thread, so
        building each block overlaps the caller's next step.
        """
        self._sender.send(blocks)

    def close(self) -> None:
        """End the COPY and wait for the server to take in every row; raise its error, if any."""
        self._sender.close()

    def abort(self) -> None:
        """Cancel the COPY (the transaction then rolls back); never raises the sender's error."""
        self._sender.abort()
