"""Suites (:mod:`lstm_search.suite`): ``seed_systems`` names its six experiments and each
resolves in every mode; a bad part, override or dataset stops the suite before anything is
written; suite files are told from experiment files without running them; a hostile
``suite.json`` is refused; a two-part suite runs, resumes without new rows and reports each
part and the summary."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lstm_search.config import ConfigError
from lstm_search.declarations import binds
from lstm_search.experiment import ExperimentError, experiment_names, load_experiment
from lstm_search.search._suite import _resolve_parts
from lstm_search.suite import (
    SUITE_FILE,
    Part,
    Suite,
    is_suite,
    load_suite,
    read_suite_record,
    suite_names,
)

SEED_PARTS = ("seed_clockwork", "seed_attention", "seed_attention_ptb", "seed_grid",
              "seed_depth_gated", "seed_convlstm")


def _resolve(suite: Suite, **kw):
    opts = {"smoke": False, "paper": False, "overrides": {}, "workers": None, "seed": None,
            "data_dir": None, "backend": "optuna", "storage": None, "resume": False,
            "retry_failed": False}
    return _resolve_parts(suite, **{**opts, **kw})


def test_seed_systems_is_a_suite_of_the_six_seed_experiments() -> None:
    assert is_suite("seed_systems") and "seed_systems" in suite_names()
    assert "seed_systems" not in experiment_names()  # not an experiment ...
    assert set(SEED_PARTS) <= set(experiment_names())  # ... its parts are
    suite = load_suite("seed_systems")
    assert tuple(p.experiment for p in suite.parts) == SEED_PARTS
    with pytest.raises(ExperimentError, match="is a suite"):
        load_experiment("seed_systems")
    assert not is_suite("quickstart") and not is_suite("no_such_thing")


@pytest.mark.parametrize("mode", ["smoke", "default", "paper"])
def test_every_part_resolves_with_its_cells_and_baselines(mode: str) -> None:
    suite = load_suite("seed_systems")
    exps = _resolve(suite, smoke=mode == "smoke", paper=mode == "paper")
    for part, exp in zip(suite.parts, exps, strict=True):
        cells = exp.space.cells
        assert set(part.baselines) <= set(cells) and set(part.cells) <= set(cells)
        assert "lstm" in part.baselines
        if mode == "paper":  # 8 pairs per cell: the grid is 8 settings
            grid = exp.space.grid()
            assert len(grid["lr"]) * len(grid["seed"]) >= 8, exp.name


def test_parts_are_validated() -> None:
    with pytest.raises(ConfigError, match="baselines must be a non-empty"):
        Part("seed_grid", baselines=())
    with pytest.raises(ConfigError, match="both a cell under test and a baseline"):
        Part("seed_grid", baselines=("lstm",), cells=("lstm",))
    with pytest.raises(ConfigError, match="twice"):
        Suite("s", parts=(Part("seed_grid"), Part("seed_grid")))
    with pytest.raises(ConfigError, match="no parts"):
        Suite("s", parts=())
    with pytest.raises(ConfigError, match="suite name"):
        Suite("../up", parts=(Part("seed_grid"),))


def _suite_file(tmp_path: Path, parts: str, name: str = "mini") -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text("from lstm_search.suite import Part, Suite\n"
                    f"SUITE = Suite(name={name!r}, parts=({parts}))\n", encoding="utf-8")
    return path


def test_a_bad_part_stops_the_suite_before_anything_is_written(tmp_path: Path) -> None:
    from lstm_search.search import run_suite

    out = tmp_path / "out"
    bad_baseline = _suite_file(tmp_path, "Part('seed_clockwork', baselines=('lstm',)), "
                                         "Part('seed_grid', baselines=('slstm',)),")
    with pytest.raises(ExperimentError, match=r"part 'seed_grid'.*slstm not among the cells"):
        run_suite(bad_baseline, smoke=True, out=out, stream=io.StringIO())
    good = _suite_file(tmp_path, "Part('seed_clockwork', baselines=('lstm',)), "
                                 "Part('seed_depth_gated'),", name="mini2")
    with pytest.raises(ConfigError, match=r"part 'seed_clockwork'.*no_such"):
        run_suite(good, smoke=True, out=out, overrides={"train.no_such": 1},
                  stream=io.StringIO())
    empty = tmp_path / "no_data"
    empty.mkdir()
    # the second part's dataset is missing: the first part does not start
    with pytest.raises(ExperimentError, match="part 'seed_depth_gated'"):
        run_suite(good, smoke=True, out=out, data_dir=empty, stream=io.StringIO())
    assert not out.exists()


def test_suite_files_are_told_apart_without_running_them(tmp_path: Path) -> None:
    suite = tmp_path / "a.py"
    suite.write_text("raise SystemExit('never run')\nSUITE: object = None\n", encoding="utf-8")
    exp = tmp_path / "b.py"
    exp.write_text("def f():\n    SUITE = 1\nEXPERIMENT = None\n# SUITE = 2\n", encoding="utf-8")
    assert binds(suite, "SUITE") and not binds(exp, "SUITE") and binds(exp, "EXPERIMENT")
    broken = tmp_path / "c.py"
    broken.write_text("SUITE = (\n", encoding="utf-8")
    assert not binds(broken, "SUITE")
    assert not binds(tmp_path / "missing.py", "SUITE")


@pytest.mark.parametrize("record, fragment", [
    ("not json", "cannot read the suite record"),
    (json.dumps({"format": "other", "parts": []}), "not a suite record"),
    (json.dumps({"format": "lstm-search-suite", "parts": [
        {"run_dir": "../../etc", "cells": ["x"], "baselines": ["lstm"]}]}), "not inside"),
    (json.dumps({"format": "lstm-search-suite", "parts": [
        {"run_dir": "/etc", "cells": ["x"], "baselines": ["lstm"]}]}), "not inside"),
    (json.dumps({"format": "lstm-search-suite", "parts": [{"run_dir": "a/b"}]}),
     "not a suite record"),
])
def test_a_hostile_suite_record_is_refused(tmp_path: Path, record: str, fragment: str) -> None:
    (tmp_path / SUITE_FILE).write_text(record, encoding="utf-8")
    with pytest.raises(ValueError, match=fragment):
        read_suite_record(tmp_path)


def test_cli_refuses_options_that_do_not_apply_to_a_suite(tmp_path: Path, capsys) -> None:
    from lstm_search.cli import main

    assert main(["run", "seed_systems", "--smoke", "--trials", "2", "--out",
                 str(tmp_path)]) == 2
    assert "--trials does not apply to a suite" in capsys.readouterr().err
    (tmp_path / SUITE_FILE).write_text(json.dumps({"format": "lstm-search-suite",
                                                   "parts": []}), encoding="utf-8")
    assert main(["report", str(tmp_path), "--baseline", "lstm"]) == 2
    assert "do not apply" in capsys.readouterr().err
    assert not any(p.name != SUITE_FILE for p in tmp_path.iterdir())


@pytest.mark.integration
def test_a_suite_runs_resumes_and_reports_every_part(tmp_path: Path) -> None:
    from lstm_search.analysis import write_suite_report
    from lstm_search.results import load_results
    from lstm_search.search import run_suite

    path = _suite_file(tmp_path, "Part('seed_clockwork', baselines=('rnn_tanh', 'lstm')), "
                                 "Part('seed_grid', baselines=('lstm', 'gru')),")
    out = tmp_path / "out"
    first = run_suite(path, smoke=True, workers=1, out=out, run="r1", stream=io.StringIO())
    assert first.suite_dir == out / "mini" / "r1"
    record = read_suite_record(first.suite_dir)
    assert record["mode"] == "smoke" and [p["run_dir"] for p in record["parts"]] == [
        "seed_clockwork/r1", "seed_grid/r1"]
    assert [p["cells"] for p in record["parts"]] == [["clockwork"], ["grid_lstm"]]
    rows = {o.experiment.name: len(load_results(o.run_dir)) for o in first.parts}
    assert all(n > 0 for n in rows.values())
    for o in first.parts:  # each part is an ordinary run folder with its own record check
        assert o.run_dir.parent.parent == first.suite_dir and not o.problems
    # a second run under the same name is refused; resuming adds no row
    with pytest.raises(ExperimentError, match="exists; pass --resume"):
        run_suite(path, smoke=True, workers=1, out=out, run="r1", stream=io.StringIO())
    with pytest.raises(ExperimentError, match="mode 'smoke'"):
        run_suite(path, paper=True, out=out, run="r1", resume=True, stream=io.StringIO())
    again = run_suite(path, out=out, resume=True, stream=io.StringIO())  # latest, as recorded
    assert {o.experiment.name: len(load_results(o.run_dir)) for o in again.parts} == rows
    assert len(read_suite_record(first.suite_dir)["resumed"]) == 1
    files = write_suite_report(first.suite_dir)
    assert set(files.parts) == {"seed_clockwork", "seed_grid"}
    assert all(f.html.is_file() for f in files.parts.values())
    import pandas as pd

    table = pd.read_csv(files.table)
    assert sorted(zip(table["experiment"], table["cell"], table["baseline"], strict=True)) == [
        ("seed_clockwork", "clockwork", "lstm"), ("seed_clockwork", "clockwork", "rnn_tanh"),
        ("seed_grid", "grid_lstm", "gru"), ("seed_grid", "grid_lstm", "lstm")]
    html = files.html.read_text(encoding="utf-8")
    assert 'href="../seed_clockwork/r1/report/report.html"' in html
    assert "seed_grid" in files.markdown.read_text(encoding="utf-8")
