"""The cycle collector's pause around bulk stores: nested across threads, never leaves it
off, never turns on one that was off."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from punchd import gcpause


@pytest.fixture(autouse=True)
def _collector_back_as_it_was() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:  # pragma: no cover - pytest runs with it on
        gc.disable()


def test_off_inside_on_after_even_when_the_block_fails() -> None:
    gc.enable()
    with gcpause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gcpause.paused():
        raise RuntimeError("a broken batch")
    assert gc.isenabled()


def test_pauses_of_two_threads_nest() -> None:
    gc.enable()
    first_in, second_in, first_may_leave, first_out = (threading.Event() for _ in range(4))
    seen: list[bool] = []

    def first() -> None:
        with gcpause.paused():
            first_in.set()
            first_may_leave.wait(10)
        first_out.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(10)
    with gcpause.paused():
        second_in.set()
        first_may_leave.set()
        assert first_out.wait(10)
        seen.append(gc.isenabled())  # the first has ended, this one has not
    thread.join(10)
    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with gcpause.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
