"""Shared test fixtures: where the standard corpora live (../shared/data from the project root,
or LSTM_SEARCH_TEST_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LSTM_SEARCH_TEST_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real corpora; tests that need it skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"corpora folder not found: {SHARED_DATA} (set LSTM_SEARCH_TEST_DATA)")
    return SHARED_DATA
