"""Python's cycle collector paused around bulk work that makes no reference cycles.

Storing a 100,000-punch read allocates a few hundred thousand tuples (rows, keys, rendered
values) that live until their batch is written. Each of them counts towards the collector's
thresholds, so it runs full passes over everything the process holds — SQLAlchemy's and
the drivers' objects included — twice in a store of 100,000 (counted), to free nothing: a
collection with the collector running took 1.15–1.2× as long (measured in-process,
``bench/collect.py``'s set-up). Plain reference counting still frees every row as soon as
it is dropped; only cycles (none are made here) wait until the pause ends.

Process-wide: pauses from several threads (the daemon's polls, the console's "collect
now") nest, and the collector is back on when the last one ends — unless it was off before
the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_resume = False


@contextmanager
def paused() -> Iterator[None]:
    """The cycle collector off for the block (see the module docstring)."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()
