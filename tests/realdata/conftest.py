"""Fixtures for tests that read the real public samples in ``../shared/data/real/`` (never copied
into the repository)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

REAL_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")  # session: module fixtures that parse a large file once use it too
def real_sample() -> Callable[[str], Path]:
    """A function mapping a path relative to ``../shared/data/real/`` to the file, skipping the test
    with the reason when the sample is not there (e.g. a clone without the shared data)."""

    def resolve(relative: str) -> Path:
        path = REAL_DATA_DIR / relative
        if not path.is_file():
            pytest.skip(f"real sample {relative} not found under {REAL_DATA_DIR} (see SOURCES.md there)")
        return path

    return resolve
