"""Damaged and hostile results tables: ``load_results`` and ``report`` skip what they cannot
use with one counted warning per file, keep a trial's first row, label runs of different
training settings apart, flag implausible metrics, and escape names in Markdown, CSV and
figures."""

from __future__ import annotations

import csv
import json
import re
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lstm_search.analysis._table import task_groups
from lstm_search.cli import main
from lstm_search.results import PROBLEMS_ATTR, load_curves, load_results

EVIL = ("$\\frac{$", "<script>alert(1)</script>", "=cmd|' /C calc'!A0", "[x](javascript:1)")


def _row(trial: int, cell: str, acc: float, run: str = "r0", **kw: Any) -> dict[str, Any]:
    row = dict(experiment="recall", run=run, trial=trial, cell=cell, genome_id=cell,
               genome="", task="recall", seed=trial, hparams={"lr": 0.01 * (1 + trial % 3)},
               task_options={"gap": 10}, status="complete", objective=acc,
               objective_name="acc", direction="maximize",
               metrics={"valid.acc": acc, "test.acc": acc - 0.01}, epochs=2, best_epoch=2,
               n_params=1000 + trial, train_seconds=1.0)
    row.update(kw)
    return row


def _write(run_dir: Path, lines: list[Any], *, epochs: int | None = None) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    text = b"".join((line if isinstance(line, bytes) else
                     (line if isinstance(line, str) else json.dumps(line)).encode()) + b"\n"
                    for line in lines)
    (run_dir / "trials.jsonl").write_bytes(text)
    if epochs is not None:
        (run_dir / "run.json").write_text(json.dumps({"experiment": {
            "name": "recall", "train": {"epochs": epochs, "lr": 0.1, "progress": False},
            "model": {"hidden_size": 8}}}))
    return run_dir


def _good_rows(cells: tuple[str, ...] = ("lstm", "gru"), n: int = 6, run: str = "r0",
               start: int = 0) -> list[dict[str, Any]]:
    return [_row(start + i * len(cells) + j, cell, 0.5 + 0.03 * j + 0.01 * (i % 3), run=run)
            for i in range(n) for j, cell in enumerate(cells)]


def _damaged_table(root: Path) -> Path:
    lines: list[Any] = _good_rows()
    lines.insert(3, "[1, 2, 3]")                                     # line 4: not an object
    lines.insert(8, dict(_row(900, "lstm", 0.5), trial="seven"))     # line 9: trial not int
    lines.insert(11, _row(901, "lstm", 0.5, metrics=[0.5]))          # line 12: metrics a list
    lines.insert(13, _row(902, "lstm", 0.5, status="exploded"))      # line 14: unknown status
    lines.append(b'{"trial": 903, "cell": "\xff\xfe"}')              # line 17: bad UTF-8
    lines.append('{"experiment": "recall", "run": "r0", "tri')       # line 18: torn
    lines.append(dict(lines[0], objective=0.99))                     # line 19: trial 0 again
    run_dir = _write(root / "recall" / "r0", lines)
    (run_dir / "curves.jsonl").write_text(
        '{"run": "r0", "trial": 0, "epoch": 1, "valid.acc": 0.5}\n{"run": "r0", "tr\n'
        '{"run": "r0", "trial": "x", "epoch": 1}\n')
    return run_dir


def test_damaged_rows_are_skipped_with_one_counted_warning_per_file(tmp_path: Path) -> None:
    run_dir = _damaged_table(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results(tmp_path)
        curves = load_curves(tmp_path)
    texts = [str(w.message) for w in caught]
    trials = [t for t in texts if "trials.jsonl" in t]
    assert trials[0] == (f"{run_dir / 'trials.jsonl'}: skipped 6 damaged lines "
                         f"(4, 9, 12, 14, 17, 18)")
    assert len(trials) == 2 and "ignored 1 duplicated" in trials[1]
    assert [t for t in texts if "curves.jsonl" in t] == [
        f"{run_dir / 'curves.jsonl'}: skipped 2 damaged lines (2, 3)"]
    assert len(df) == 12 and sorted(df["trial"]) == list(range(12))
    assert df.attrs[PROBLEMS_ATTR] == trials and len(curves) == 1


def test_report_on_a_damaged_table_says_what_it_skipped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _damaged_table(tmp_path / "res")
    out = tmp_path / "report"
    code = main(["report", str(tmp_path / "res"), "--out", str(out),
                 "--importance", "ped-anova"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err and err.count("skipped") == 2
    md = (out / "report.md").read_text()
    assert "8 damaged line(s) skipped, 1 duplicated trial row(s) ignored" in md
    assert "skipped 6 damaged lines" in md


def test_a_duplicated_trial_row_keeps_the_first_and_is_reported(tmp_path: Path) -> None:
    rows = _good_rows()
    original = rows[0]
    _write(tmp_path / "res" / "recall" / "r0", [*rows, dict(original, objective=0.99,
                                                             metrics={"test.acc": 0.99})])
    with pytest.warns(UserWarning, match=r"ignored 1 duplicated .* recall/r0 trial 0 "
                                         r"\(line 13, first at .*:1\)"):
        df = load_results(tmp_path / "res")
    assert len(df) == 12
    kept = df[df["trial"] == 0].iloc[0]
    assert kept["objective"] == original["objective"]
    assert kept["test.acc"] == original["metrics"]["test.acc"]


def test_runs_with_different_training_settings_are_labelled_apart(tmp_path: Path) -> None:
    root = tmp_path / "res"
    _write(root / "recall" / "short", _good_rows(run="short"), epochs=1)
    _write(root / "recall" / "long", _good_rows(run="long"), epochs=3)
    df = load_results(root)
    assert sorted(df["cfg.train.epochs"].unique()) == [1, 3]
    labels = [label for label, _ in task_groups(df)]
    assert labels == ["recall train.epochs=1", "recall train.epochs=3"]
    # the same settings pool as before: no column, one group
    same = tmp_path / "same"
    _write(same / "recall" / "a", _good_rows(run="a"), epochs=3)
    _write(same / "recall" / "b", _good_rows(run="b"), epochs=3)
    df = load_results(same)
    assert not [c for c in df.columns if c.startswith("cfg.")]
    assert [label for label, _ in task_groups(df)] == ["recall"]


def test_non_numeric_and_implausible_metrics_are_flagged_not_used(tmp_path: Path) -> None:
    rows = _good_rows()
    rows[0] = _row(0, "lstm", 0.5, metrics={"valid.acc": "high", "test.acc": 1e308})
    rows[1] = _row(1, "gru", 1.7)  # accuracy objective above 1
    rows[2] = _row(2, "lstm", 0.5, metrics={"valid.acc": 0.5, "test.nll": -3.0})
    _write(tmp_path / "recall" / "r0", rows)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results(tmp_path)
    texts = sorted(str(w.message).split(": ", 1)[1] for w in caught)
    assert texts == ["1 non-numeric metric value treated as missing",
                     "5 implausible metric values treated as missing"]
    by_trial = df.set_index("trial")
    assert pd.isna(by_trial.loc[0, "valid.acc"]) and pd.isna(by_trial.loc[0, "test.acc"])
    assert pd.isna(by_trial.loc[1, "objective"]) and pd.isna(by_trial.loc[1, "valid.acc"])
    assert pd.isna(by_trial.loc[2, "test.nll"])
    assert by_trial.loc[3, "objective"] == rows[3]["objective"]


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    _write(root / "res" / "recall" / "r0", _good_rows(("lstm", "gru", *EVIL), n=5))
    out = root / "report"
    assert main(["report", str(root / "res"), "--out", str(out), "--importance",
                 "ped-anova"]) == 0
    return out


def test_names_are_escaped_in_the_markdown(hostile_report: Path) -> None:
    md = (hostile_report / "report.md").read_text()
    # code spans show their content literally (no HTML, no math, no links); outside them
    # every markup character of a name is escaped
    outside = re.sub(r"`[^`\n]*`", "", md)
    assert "\\<script\\>" in outside and "<script>" not in outside
    assert "$\\frac{$" not in outside and "\\$\\\\frac{\\$" in outside
    assert "[x](javascript:1)" not in outside and "\\[x\\](javascript:1)" in outside
    assert re.search(r"(?<!\\)\$", outside) is None  # no unescaped $ at all
    assert "could not be computed" not in md  # no section broke on a name


def test_csv_cells_cannot_start_a_formula_and_numbers_stay_numbers(
        hostile_report: Path) -> None:
    with open(hostile_report / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    cells = {r["cell"] for r in rows}
    assert "'=cmd|' /C calc'!A0" in cells and "=cmd|' /C calc'!A0" not in cells
    comparison = pd.read_csv(hostile_report / "comparison.csv")
    diffs = comparison["top_mean_diff"]
    assert pd.api.types.is_float_dtype(diffs) and (diffs < 0).any()


def test_figures_show_names_as_text_not_mathtext(hostile_report: Path) -> None:
    import matplotlib

    from lstm_search.analysis._style import figure_png, new_figure

    assert len(list((hostile_report / "figures").glob("*.png"))) >= 3
    fig = new_figure(3, 2)
    ax = fig.add_subplot()
    ax.bar(list(EVIL), [1, 2, 3, 4])  # tick labels are made while drawing
    ax.set_title(EVIL[0])
    with matplotlib.rc_context({"text.parse_math": True}):  # as a notebook may have it
        assert figure_png(fig)[:4] == b"\x89PNG"


def test_the_writer_reads_a_damaged_table_for_resume(tmp_path: Path) -> None:
    from lstm_search.results import ResultsWriter

    run_dir = _damaged_table(tmp_path)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        writer = ResultsWriter(run_dir)
        assert writer.finished_trials() == set(range(12))
        rows = writer.rows()  # every usable row, the duplicate of trial 0 too
        assert len(rows) == 13 and {r.trial for r in rows} == set(range(12))


def test_the_search_side_reads_a_damaged_table(tmp_path: Path) -> None:
    from lstm_search.search._dedup import find_reusable
    from lstm_search.search._progress import summarise

    run_dir = _damaged_table(tmp_path)
    with open(run_dir / "trials.jsonl", "a") as f:
        f.write(json.dumps(_row(950, "lstm", 0.5, objective="high")) + "\n")
    with pytest.warns(UserWarning, match=r"skipped 7 damaged lines \(4, 9, 12, 14, 17, 18, "
                                         r"20\)"):
        summary = summarise(run_dir)
    assert summary.done == 12 and summary.by_status == {"complete": 12}
    with pytest.warns(UserWarning, match="skipped 7 damaged lines"):
        assert find_reusable(run_dir, "no such key") is None
