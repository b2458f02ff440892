"""A search over a fixed list of zoo cells with ``model.backend=native`` builds every cell's
native library in one go before its first trial (the workers then load them from the cache);
with another backend it builds nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from search_helpers import fake_evaluate

from lstm_search.experiment import find_experiment, load_experiment
from lstm_search.nn import _api
from lstm_search.search import run_experiment


def test_a_native_search_builds_its_cells_once_before_the_first_trial(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list] = []
    monkeypatch.setattr(_api, "prebuild_native_plans",
                        lambda plans: seen.append(plans) or 0.0)
    for backend in ("script", "native"):
        run_experiment("quickstart", smoke=True, out=tmp_path, run=backend,
                       overrides={"model.backend": backend}, evaluate=fake_evaluate,
                       stream=io.StringIO())
    assert len(seen) == 1  # the native run only
    cells = load_experiment(find_experiment("quickstart"), smoke=True).space.cells
    # each cell's plan for an input as wide as the hidden state and for another width
    assert sorted(p.input_size - p.hidden_size for p in seen[0]) == sorted([0, 1] * len(cells))
