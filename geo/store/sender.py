"""Work handed to a thread of its own, in order, through a short queue.

A first load writes each checked chunk straight into its table. Done in the
caller's thread, the database's work on chunk *k* and the caller's checks of
chunk *k + 1* take turns; a :class:`Sender` runs the writes on a thread of
its own, so they overlap (the database's own work releases Python's GIL).

The queue holds at most :data:`QUEUE_DEPTH` items: a caller faster than the
database waits for it rather than holding the file in memory. The caller
must not use the connection the sender writes on until :meth:`Sender.close`
or :meth:`Sender.abort` returns. An error in the thread is raised in the
caller at its next :meth:`Sender.send` or at :meth:`Sender.close`; after
:meth:`Sender.abort` the caller rolls its transaction back.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

QUEUE_DEPTH = 1
"""Items handed to the sender and not yet taken, at most: with the one it is
writing and the one the caller is checking, three chunks are in memory."""

_POLL_S = 0.2
"""Seconds between checks that the sender is still alive while the queue is full."""


class Aborted(Exception):
    """Raised in the sender's thread, inside its body, when the caller aborts."""

    def __init__(self) -> None:
        super().__init__("the load was interrupted")


_END = object()
_ABORT = object()


class Sender:
    """A thread running ``body(items)``, where ``items`` yields what the caller sends.

    ``items`` ends when the caller calls :meth:`close`, and raises
    :class:`Aborted` when it calls :meth:`abort`: ``body`` may hold a context
    open across items (a COPY, say) and let it see the abort as an error.
    """

    def __init__(self, body: Callable[[Iterator[object]], None], *, name: str) -> None:
        self._body = body
        self._queue: queue.Queue[object] = queue.Queue(maxsize=QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _items(self) -> Iterator[object]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if item is _ABORT:
                raise Aborted
            yield item

    def _run(self) -> None:
        try:
            self._body(self._items())
        except Aborted:
            pass
        except BaseException as exc:  # raised in the caller's thread
            self._error = exc

    def _put(self, item: object) -> None:
        """Hand ``item`` over, waiting while the queue is full and the sender alive."""
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._raise_if_failed()
                    msg = "the sender stopped"
                    raise RuntimeError(msg) from None

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._closed = True
            raise error

    def send(self, item: object) -> None:
        """Queue ``item`` for the body, after everything sent before it."""
        if self._closed:
            msg = "the sender is closed"
            raise RuntimeError(msg)
        self._put(item)

    def close(self) -> None:
        """Let the body finish every item sent, and wait; raise its error, if any."""
        if self._closed:
            return
        self._closed = True
        try:
            self._put(_END)
        finally:
            self._thread.join()
        self._raise_if_failed()

    def abort(self) -> None:
        """Stop the body at the next item, and wait; never raises the body's error."""
        if self._closed:
            self._thread.join()
            return
        self._closed = True
        # Items not yet taken are dropped, so the abort is not queued behind them.
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
