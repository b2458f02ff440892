"""The notebooks in analysis/: stored without outputs, parameterised by one folder, and they run
top to bottom on a fixture results folder (nbclient, python3 kernel)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import analysis_fixture_tables as tables
import pytest

from lstm_search.results import load_results

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "analysis"
NAMES = ("variant_comparison.ipynb", "search_overview.ipynb", "hyperparameter_importance.ipynb")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nb-results")
    tables.write_greff_results(root, seed=2, trials_per_cell=16)
    tables.write_recall_results(root, seed=2, seeds_per_gap=2)
    return root


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_clean(name):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert code[0].metadata.get("tags") == ["parameters"]
    assert code[0].source.startswith("RESULTS = ")
    assert "LSTM_SEARCH_RESULTS" in code[1].source


def test_notebooks_match_their_generator():
    spec = importlib.util.spec_from_file_location("make_notebooks",
                                                  NOTEBOOK_DIR / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(module.NOTEBOOKS) == set(NAMES)
    for name, nb in module.NOTEBOOKS.items():
        assert nbformat.writes(nb).strip() == (NOTEBOOK_DIR / name).read_text().strip(), name


@pytest.mark.integration
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_a_results_folder(name, results, tmp_path, monkeypatch):
    monkeypatch.setenv("LSTM_SEARCH_RESULTS", str(results))
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    # run where Jupyter runs it: the notebook's own folder
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError on any failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, "figures did not render"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"{len(load_results(results))} trials" in text  # it read the fixture, not RESULTS


@pytest.mark.integration
def test_first_cell_path_is_read_from_the_repository_root(monkeypatch):
    """Opened in Jupyter (cwd analysis/), a first-cell path relative to the repository root is
    found; a folder that does not exist says how to make one."""
    monkeypatch.delenv("LSTM_SEARCH_RESULTS", raising=False)
    recorded = "benchmarks/reproductions/quickstart/clean-cpu-2core"
    assert not (NOTEBOOK_DIR / recorded).exists() and (NOTEBOOK_DIR.parent / recorded).is_dir()
    nb = nbformat.read(NOTEBOOK_DIR / NAMES[0], as_version=4)
    nb.cells = nb.cells[:3]  # title, parameters, setup (loads the table)
    nb.cells[1].source = f'RESULTS = "{recorded}"'
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert f"{len(load_results(NOTEBOOK_DIR.parent / recorded))} trials" in text
    nb.cells[1].source = 'RESULTS = "results/no-such-run"'
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="lstm-search run"):
        nbclient.NotebookClient(nb, kernel_name="python3", timeout=300, resources={
            "metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
