"""geo.store.sender: work handed to a thread, in order, through a short queue."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from geo.store import sender
from geo.store.sender import Aborted, Sender


def test_items_run_in_order_and_close_waits_for_them() -> None:
    done: list[int] = []

    def body(items: Iterator[object]) -> None:
        for item in items:
            done.append(item)  # type: ignore[arg-type]

    s = Sender(body, name="test")
    for i in range(50):  # far more than the queue holds
        s.send(i)
    s.close()
    assert done == list(range(50))
    s.close()  # again: nothing
    with pytest.raises(RuntimeError, match="closed"):
        s.send(1)


def test_an_error_in_the_body_reaches_the_caller_even_with_the_queue_full() -> None:
    gate = threading.Event()

    def body(items: Iterator[object]) -> None:
        for item in items:
            gate.wait()
            if item == 1:
                msg = "refused row"
                raise ValueError(msg)

    s = Sender(body, name="test")
    s.send(0)
    s.send(1)
    gate.set()
    with pytest.raises(ValueError, match="refused row"):
        for i in range(2, 10 * sender.QUEUE_DEPTH + 10):
            s.send(i)
        s.close()


def test_close_raises_the_bodys_error() -> None:
    def body(items: Iterator[object]) -> None:
        for _ in items:
            pass
        msg = "commit failed"
        raise OSError(msg)

    s = Sender(body, name="test")
    s.send(0)
    with pytest.raises(OSError, match="commit failed"):
        s.close()


def test_abort_drops_waiting_items_and_the_body_sees_it() -> None:
    started, release = threading.Event(), threading.Event()
    seen: list[object] = []
    saw_abort: list[bool] = []

    def body(items: Iterator[object]) -> None:
        try:
            for item in items:
                seen.append(item)
                started.set()
                release.wait()
        except Aborted:
            saw_abort.append(True)
            raise

    s = Sender(body, name="test")
    s.send("first")
    started.wait(5)
    s.send("queued")
    release.set()
    s.abort()
    s.abort()  # again: nothing
    assert seen in (["first"], ["first", "queued"])  # the queued one may be taken first
    assert saw_abort == [True]
