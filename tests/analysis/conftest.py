"""Fixtures for the analysis tests: synthetic results folders written with ResultsWriter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import analysis_fixture_tables as tables

from lstm_search.results import load_curves, load_results


@pytest.fixture(scope="session")
def greff_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("greff")
    tables.write_greff_results(root, seed=0)
    return root


@pytest.fixture(scope="session")
def greff_table(greff_dir: Path):
    return load_results(greff_dir)


@pytest.fixture(scope="session")
def greff_curves(greff_dir: Path):
    return load_curves(greff_dir)


@pytest.fixture(scope="session")
def mixed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Greff-style JSB search and a long-lag recall task side by side."""
    root = tmp_path_factory.mktemp("mixed")
    tables.write_greff_results(root, seed=1, trials_per_cell=24)
    tables.write_recall_results(root, seed=1)
    return root


@pytest.fixture(scope="session")
def mixed_table(mixed_dir: Path):
    return load_results(mixed_dir)


@pytest.fixture(scope="session")
def names() -> dict[str, str]:
    return tables.cell_names()


@pytest.fixture(scope="session")
def report(mixed_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    """``lstm-search report`` run once on the mixed fixture: (exit code, output folder)."""
    from lstm_search.cli import main

    out = tmp_path_factory.mktemp("report")
    # PED-ANOVA keeps this shared report quick; fANOVA is tested in test_analysis_importance
    code = main(["report", str(mixed_dir), "--out", str(out), "--importance", "ped-anova"])
    return code, out
