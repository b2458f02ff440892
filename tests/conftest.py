"""Shared test fixtures: where the standard corpora live, found by the framework's one data-path
rule (``LSTM_SEARCH_DATA``, else ``./data``; ``.ci/run`` points the variable at ../shared/data)."""

from __future__ import annotations

import os
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


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n N``) each of the N worker processes gets its share of the cores
    for torch's intra-op threads: N processes each running torch's default (every core) spin
    their OpenMP threads against each other, which made single tests up to 100x slower."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(workers)))

