"""``lstm-search runs`` and the table ``run`` ends with: what each run and cell holds, read from
the tables (known answers from the fixture tables)."""

from __future__ import annotations

import json
from pathlib import Path

import analysis_fixture_tables as tables
import pytest

from lstm_search.analysis.runs import cell_lines, find_runs, format_cells, run_info
from lstm_search.cli import main
from lstm_search.results import read_rows


def _expected(run_dir: Path) -> dict[str, tuple[int, float, float]]:
    import statistics

    rows = list(read_rows(run_dir / "trials.jsonl"))
    out = {}
    for cell in {r["cell"] for r in rows}:
        values = [r["objective"] for r in rows if r["cell"] == cell and r["status"] == "complete"]
        out[cell] = (sum(r["cell"] == cell for r in rows), min(values),
                     statistics.median(values))  # jsb: nll, minimised
    return out


def test_cell_lines_give_trials_best_and_median_by_validation(tmp_path: Path) -> None:
    run_dir = tables.write_greff_results(tmp_path, cells=("lstm", "gru", "nfg"),
                                         trials_per_cell=7)
    lines = cell_lines(run_dir)
    expected = _expected(run_dir)
    assert {c.cell: (c.trials, c.best, c.median) for c in lines} == expected
    assert [c.best for c in lines] == sorted(c.best for c in lines)  # best (lowest nll) first
    text = format_cells(lines, "valid.nll")
    assert text.splitlines()[0].split() == ["cell", "trials", "complete", "best", "valid.nll",
                                            "median", "valid.nll"]
    assert len(text.splitlines()) == 4


def test_runs_lists_every_run_with_counts_and_best(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tables.write_greff_results(tmp_path / "results", cells=("lstm", "gru"),
                                   trials_per_cell=5, run="a")
    b = tables.write_failed_results(tmp_path / "results", n=4, run="b")
    (a / "run.json").write_text(json.dumps({"experiment": {"name": "greff_jsb"}, "run": "a",
                                            "started": "2026-01-02T03:04:05+00:00"}))
    (a / "report").mkdir()  # a report folder is no run
    infos = {i.run: i for i in find_runs(tmp_path / "results")}
    assert set(infos) == {"a", "b"}
    from collections import Counter

    counts = Counter(r["status"] for r in read_rows(a / "trials.jsonl"))
    assert infos["a"].by_status == dict(counts) and infos["a"].experiment == "greff_jsb"
    assert infos["a"].best == min(v[1] for v in _expected(a).values())
    assert infos["b"].by_status == {"failed": 4} and infos["b"].best is None
    assert run_info(b).trials == 4
    assert main(["runs", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert "2026-01-02T03:04:05Z" in out and "failed 4" in out and str(a) in out


def test_runs_of_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", str(tmp_path / "nope")]) == 2
    assert "no results folder" in capsys.readouterr().err
