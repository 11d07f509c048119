"""Building millions of small objects at once without the cyclic garbage collector."""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: analysis, portfolio loads and write-back rows build
    millions of small acyclic objects, and the collector would only rescan them again and again
    (reference counting still frees them). The collector is re-enabled only if it was enabled."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
