"""Shared test fixtures: where the standard corpora live, found by the framework's one data-path
rule (``LSTM_SEARCH_DATA``, else ``./data``; ``.ci/run`` points the variable at ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstm_search.data import DATA_ENV, resolve_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real corpora; tests that need it skip with the reason when it is absent."""
    folder = resolve_data_dir(None).resolve()
    if not folder.is_dir():
        pytest.skip(f"corpora folder not found: {folder} (set {DATA_ENV}=DIR to the folder "
                    f"holding ptb/ and music/, e.g. ../shared/data)")
    return folder
