"""Where ``lstm-search report`` writes and when it refuses: the default folder inside the run,
no writing into a folder that holds something else, an earlier report replaced without stale
figures, no empty CSV files, ``trials.csv``, exit 2 on an empty folder or an unknown baseline;
and the figures' details (cell diagrams with the zoo's names, hyperparameter panels)."""

from __future__ import annotations

from pathlib import Path

import analysis_fixture_tables as tables
import pandas as pd
import pytest

from lstm_search.cli import main


def _report(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["report", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.err


def test_default_output_is_inside_the_run_and_replaces_an_earlier_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tables.write_failed_results(tmp_path / "res")
    code, _ = _report([str(run_dir)], capsys)
    out = run_dir / "report"
    assert code == 0 and (out / "report.md").is_file() and (out / "report.html").is_file()
    stale = out / "figures" / "old-figure.png"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"png")
    (out / "gap.csv").write_text("gap\n1\n")  # a table the new report does not have
    code, _ = _report([str(run_dir)], capsys)
    assert code == 0 and not stale.exists() and not (out / "gap.csv").exists()
    assert (out / "report.md").is_file()


def test_a_folder_that_holds_something_else_is_refused_without_force(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tables.write_failed_results(tmp_path / "res")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    code, err = _report([str(run_dir), "--out", str(other)], capsys)
    assert code == 2 and "--force" in err and str(other) in err
    assert not (other / "report.md").exists()
    code, _ = _report([str(run_dir), "--out", str(other), "--force"], capsys)
    assert code == 0 and (other / "report.md").is_file()
    assert (other / "mine.txt").read_text() == "keep me"


def test_several_paths_need_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tables.write_failed_results(tmp_path / "res", run="a")
    b = tables.write_failed_results(tmp_path / "res", run="b")
    code, err = _report([str(a), str(b)], capsys)
    assert code == 2 and "--out" in err


def test_no_empty_csv_files_and_every_trial_in_trials_csv(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tables.write_failed_results(tmp_path / "res", n=6)
    assert _report([str(run_dir)], capsys)[0] == 0
    csvs = list((run_dir / "report").glob("*.csv"))
    assert csvs
    for path in csvs:
        table = pd.read_csv(path)  # pandas reads every file written
        assert len(table.columns) > 0, path.name
    trials = pd.read_csv(run_dir / "report" / "trials.csv")
    assert sorted(trials["trial"]) == list(range(6))
    assert set(trials["status"]) == {"failed"} and "hp.lr" in trials.columns
    assert list(trials.columns[:4]) == ["experiment", "run", "trial", "cell"]


def test_empty_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, err = _report([str(tmp_path / "empty"), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "no trials" in err and "lstm-search run" in err
    assert not (tmp_path / "r").exists()


def test_unknown_baseline_exits_2_and_names_the_cells(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tables.write_failed_results(tmp_path / "res")
    code, err = _report([str(run_dir), "--baseline", "lstm,lstmm"], capsys)
    assert code == 2 and "lstmm" in err and "gru, lstm" in err
    assert not (run_dir / "report").exists()


def test_show_png_into_a_missing_folder_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["show", "gru", "--png", str(tmp_path / "nope" / "gru.png")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and "Traceback" not in err


def test_report_diagrams_use_the_zoo_names() -> None:
    from lstm_search import zoo
    from lstm_search.analysis.diagrams import named_genome
    from lstm_search.genome import Genome, canonical, genome_id

    recorded = Genome.from_json(canonical(zoo.get("lstm")).to_json())
    assert genome_id(recorded) == genome_id(zoo.get("lstm"))
    assert named_genome(recorded, "lstm") == zoo.get("lstm")
    assert named_genome(recorded, "gru") is recorded  # another cell's name: kept as recorded
    assert named_genome(recorded, "my-cell") is recorded


def _collections(fig) -> list[str]:
    return [type(c).__name__ for ax in fig.axes for c in ax.collections]


def test_hyperparameter_figure_with_few_trials_shows_points_only(greff_table) -> None:
    pytest.importorskip("matplotlib")
    from lstm_search.analysis import hyperparameter_plot

    jsb = greff_table[greff_table["task"] == "jsb"]
    many = hyperparameter_plot(jsb, params=["lr"], task="jsb")
    few = hyperparameter_plot(jsb.head(6), params=["lr"], task="jsb")
    assert "FillBetweenPolyCollection" in _collections(many) or \
        "PolyCollection" in _collections(many)
    assert not any("Poly" in c for c in _collections(few))
    ax = many.axes[0]
    assert ax.get_xscale() == "log"  # lr is recorded log-uniform
    lo, hi = ax.get_ylim()
    band = next(c for c in ax.collections if "Poly" in type(c).__name__)
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() >= lo - 1e-9 and ys.max() <= hi + 1e-9


def test_log_axes_of_learning_rates_have_plain_labels(greff_table) -> None:
    """Figures never read text as TeX, so a wide log axis gets Unicode powers of ten, not
    matplotlib's `$\\mathdefault{10^{-3}}$` shown raw."""
    pytest.importorskip("matplotlib")
    from lstm_search.analysis import hyperparameter_plot
    from lstm_search.analysis._style import power_of_ten

    assert [power_of_ten(x) for x in (1e-5, 1e-2, 1.0, 1e3, 1e4, 0.5)] == [
        "10⁻⁵", "10⁻²", "1", "1k", "10⁴", "0.5"]
    fig = hyperparameter_plot(greff_table[greff_table["task"] == "jsb"], params=["lr"],
                              task="jsb")
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert labels and not any("$" in t or "mathdefault" in t for t in labels), labels
    assert any(t.startswith("10⁻") for t in labels), labels  # the fixture spans decades
