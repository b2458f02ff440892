"""The report command: files, self-contained HTML, verdicts in the CSVs, and bad input."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import warnings

import analysis_fixture_tables as tables
import pandas as pd
import pytest
from PIL import Image

from lstm_search.cli import main

IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.mark.integration  # a full report on the mixed fixture (the session fixture `report`)
def test_report_writes_every_file(report, capsys):
    code, out = report
    assert code == 0
    for name in ("report.md", "report.html", "summary.csv", "comparison.csv",
                 "importance.csv", "leaderboard.csv", "marginal_effects.csv", "gap.csv"):
        assert (out / name).stat().st_size > 0, name
    md = (out / "report.md").read_text()
    linked = re.findall(r"\]\((figures/[^)]+\.png)\)", md)
    assert len(linked) >= 12  # two tasks: variants x2, importance, hyperparameters, pareto ...
    for path in linked:
        assert (out / path).exists(), path
    assert "Note:" not in md  # the fixture is well-formed: nothing to warn about
    assert "## Task jsb" in md and "## Task recall gap=10" in md and "## Methods" in md
    assert "{'" not in md and "np.int64" not in md


@pytest.mark.integration  # a full report on the mixed fixture (the session fixture `report`)
def test_html_is_self_contained_and_every_image_decodes(report):
    _, out = report
    html = (out / "report.html").read_text()
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # no external files or links
    for target in re.findall(r'href="#([^"]+)"', html):  # in-page links all land
        assert f'id="{target}"' in html, target
    assert "<link" not in html and "<script" not in html
    images = IMG.findall(html)
    assert len(images) == len(list((out / "figures").glob("*.png")))
    for data in images:
        img = Image.open(io.BytesIO(base64.b64decode(data)))
        img.load()
        assert img.format == "PNG" and img.size[0] > 200 and img.size[1] > 100


@pytest.mark.integration  # a full report on the mixed fixture (the session fixture `report`)
def test_csv_tables_carry_the_verdicts(report):
    _, out = report
    comp = pd.read_csv(out / "comparison.csv")
    jsb = comp[comp["task"] == "jsb"].set_index(["baseline", "cell"])
    # about 20 independent trials each: Mann-Whitney finds noaf worse (p < 0.05) but not after
    # Holm over 12 cells, and Greff's best 10% needs 20 completed trials per cell
    for base in ("lstm", "gru"):
        row = jsb.loc[(base, "noaf")]
        assert row["design"] == "independent" and row["estimate"] > 0.3
        assert row["p"] < 0.05 <= row["p_holm"] and row["verdict"] == "inconclusive"
        assert row["verdict_tuned"] == "not applicable"
    recall = comp[comp["task"].str.startswith("recall")]
    assert (recall["metric"] == "test.acc").all() and (recall["direction"] == "maximize").all()
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["task"]) == {"jsb"} | {f"recall gap={g}" for g in tables.RECALL_GAPS}
    imp = pd.read_csv(out / "importance.csv")
    pooled = imp[(imp["task"] == "jsb") & (imp["cell"] == "(all cells)")]
    assert pooled.sort_values("rank")["param"].iloc[0] == "lr"
    board = pd.read_csv(out / "leaderboard.csv")
    assert board["genome_id"].notna().all()


def run_report(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(["report", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


def test_nonexistent_path_exits_2(tmp_path, capsys):
    code, _, err = run_report([str(tmp_path / "nope"), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "does not exist" in err and "nope" in err
    assert not (tmp_path / "r" / "report.html").exists()


def test_empty_table_writes_a_report_that_says_so(tmp_path):
    from lstm_search.analysis import write_report

    files = write_report(pd.DataFrame(), tmp_path / "r")  # the CLI exits 2 before (see
    html = files.html.read_text()  # test_analysis_output.py); the library still reports it
    assert "results table is empty" in html
    assert list(pd.read_csv(tmp_path / "r" / "summary.csv").columns)[:2] == ["task", "cell"]


@pytest.mark.integration  # two full reports
def test_one_cell_and_missing_baseline(tmp_path, capsys):
    tables.write_greff_results(tmp_path / "res", cells=("lstm",), trials_per_cell=12)
    code, out, _ = run_report([str(tmp_path / "res"), "--out", str(tmp_path / "r"),
                               "--importance", "ped-anova"], capsys)
    assert code == 0 and "only one cell" in out
    tables.write_greff_results(tmp_path / "res2", cells=("lstm", "nfg"), trials_per_cell=12)
    code, _, err = run_report([str(tmp_path / "res2"), "--out", str(tmp_path / "r2"),
                               "--baseline", "lstm,mut9", "--importance", "ped-anova"], capsys)
    assert code == 2 and "mut9" in err  # a name that is no cell of the table: a typo
    code, out, _ = run_report([str(tmp_path / "res2"), "--out", str(tmp_path / "r2"),
                               "--baseline", "lstm", "--importance", "ped-anova"], capsys)
    assert code == 0
    comp = pd.read_csv(tmp_path / "r2" / "comparison.csv")
    assert list(comp["cell"]) == ["nfg"] and list(comp["baseline"]) == ["lstm"]


def test_all_trials_failed(tmp_path, capsys):
    tables.write_failed_results(tmp_path / "res")
    code, out, _ = run_report([str(tmp_path / "res"), "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and "no trial completed (6 failed)" in out
    md = (tmp_path / "r" / "report.md").read_text()
    assert "CUDA out of memory" in md  # the failures table says why
    assert "Metric `objective`" not in md and "s / trial" not in md
    assert "np.int64" not in md and "{'failed'" not in md
    assert "there is no metric to compare (the search optimised `nll`)" in md


def test_unknown_metric_exits_2(mixed_dir, tmp_path, capsys):
    code, _, err = run_report([str(mixed_dir), "--metric", "test.bleu", "--out",
                               str(tmp_path / "r")], capsys)
    assert code == 2 and "test.bleu" in err and "test.nll" in err


def test_analysis_imports_no_torch_and_no_plotting_libraries():
    code = ("import sys, lstm_search.analysis, lstm_search.cli._report; "
            "print(sorted(m for m in ('torch', 'seaborn', 'matplotlib', 'optuna', 'ray') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.integration  # a full report on the mixed fixture (the session fixture `report`)
def test_runs_at_several_gaps_are_compared_per_gap_and_drawn_against_the_gap(report):
    _, out = report
    comp = pd.read_csv(out / "comparison.csv")
    recall = comp[comp["task"].str.startswith("recall")]
    assert "recall" not in set(recall["task"])  # never pooled over the gaps
    assert set(recall["task"]) == {f"recall gap={g}" for g in tables.RECALL_GAPS}
    per_setting = len(tables.RECALL_REACH) - 1  # every other cell against one baseline
    assert (recall.groupby(["task", "baseline"]).size() == per_setting).all()
    assert (recall["n_cell"] == 3).all() and (recall["n_baseline"] == 3).all()
    by = recall.set_index(["task", "baseline", "cell"])
    # nfg reaches 25 steps: close to lstm at a gap of 10, far below it at 100; with 3 trials
    # each the exact Mann-Whitney test cannot go below p = 2 / C(6, 3) = 0.1: inconclusive
    row = by.loc[("recall gap=100", "lstm", "nfg")]
    assert row["estimate"] < -0.4 and row["p"] == pytest.approx(0.1)
    assert row["verdict"] == "inconclusive"
    assert by.loc[("recall gap=100", "lstm", "nfg"), "top_mean_diff"] < -0.4
    assert abs(by.loc[("recall gap=10", "lstm", "nfg"), "top_mean_diff"]) < 0.2
    md = (out / "report.md").read_text()
    assert "## Task recall: accuracy against the lag" in md
    assert "best 10%" in md.split("## Task recall: accuracy against the lag")[1][:600]
    gap_png = out / "figures" / "recall-gap.png"
    assert gap_png.exists() and "figures/recall-gap.png" in md
    assert Image.open(gap_png).size[0] > 500
    curve = pd.read_csv(out / "gap.csv")
    assert sorted(curve["gap"].unique()) == list(tables.RECALL_GAPS)
    assert set(curve["cell"]) == set(tables.RECALL_REACH) and (curve["n"] == 3).all()


@pytest.mark.integration  # a full report on the mixed fixture (the session fixture `report`)
def test_marginal_effects_table_is_written(report):
    _, out = report
    marginal = pd.read_csv(out / "marginal_effects.csv")
    jsb = marginal[marginal["task"] == "jsb"]
    assert set(jsb["param"]) == {"lr", "hidden", "momentum", "input_noise"}
    assert (jsb["metric"] == "test.nll").all() and (jsb["n"] > 0).all()
    assert jsb.loc[jsb["param"] == "lr", "log"].all()


@pytest.mark.integration  # a full report on the mixed fixture (the session fixture `report`)
def test_cell_diagrams_open_full_size(report):
    _, out = report
    html = (out / "report.html").read_text()
    galleries = re.findall(r'<div class="gallery" id="([^"]+)">(.*?)</div>', html, re.S)
    if not galleries:
        pytest.skip("cell drawing is not available here")
    for gallery, body in galleries:
        figures = re.findall(r'<figure id="([^"]+)">(.*?)</figure>', body, re.S)
        assert figures
        for fid, inner in figures:
            assert f'href="#{fid}"' in inner and "<img " in inner  # a click enlarges it
            assert f'href="#{gallery}"' in inner  # and "close" returns
    assert ".gallery figure:target" in html


def test_baseline_without_completed_trials_is_named(tmp_path, capsys):
    tables.write_greff_results(tmp_path / "res", cells=("lstm", "gru", "nfg"),
                               trials_per_cell=12)
    trials = next((tmp_path / "res").rglob("trials.jsonl"))
    rows = [json.loads(line) for line in trials.read_text().splitlines()]
    for row in rows:
        if row["cell"] == "gru":
            row.update(status="failed", error="CUDA out of memory", metrics={})
    trials.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, _ = run_report([str(tmp_path / "res"), "--out", str(tmp_path / "r"),
                               "--importance", "ped-anova"], capsys)
    assert code == 0
    n_gru = sum(row["cell"] == "gru" for row in rows)
    assert f"`gru` has no completed trial on task `jsb` ({n_gru} failed)" in out
    assert "not in the" not in out and "np.int64" not in out


@pytest.mark.integration  # a full report
def test_report_on_quantised_accuracies_writes_nothing_to_stderr(tmp_path, capsys):
    # small test sets give accuracies in steps of 1/64: cells whose trials all score the same
    tables.write_recall_results(tmp_path / "r" / "res", seeds_per_gap=2, gaps=(10, 40))
    trials = next((tmp_path / "r" / "res").rglob("trials.jsonl"))
    rows = [json.loads(line) for line in trials.read_text().splitlines()]
    for row in rows:
        level = {"lstm": 40, "gru": 36, "vanilla": 40, "nfg": 12}[row["cell"]]
        row["metrics"]["test.acc"] = level / 64
    trials.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run_report([str(tmp_path / "r" / "res"), "--out", str(tmp_path / "r"),
                                   "--force",  # the folder holds the results too
                                   "--importance", "fanova"], capsys)
    assert code == 0 and err == ""
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
    comp = pd.read_csv(tmp_path / "r" / "comparison.csv")
    assert comp["cohens_d"].isna().all()  # zero spread: undefined, not infinite
    # two trials per cell and gap: a sample, but too small for the rank test to decide
    assert set(comp.loc[comp["cell"] == "nfg", "verdict"]) == {"inconclusive"}
    md = (tmp_path / "r" / "report.md").read_text()
    assert "## Task recall gap=10" in md and "## Task recall gap=40" in md
    assert "∞" not in md
    assert (tmp_path / "r" / "figures" / "recall-gap.png").exists()


def test_a_negative_margin_exits_2(greff_dir, tmp_path, capsys):
    code, _, err = run_report([str(greff_dir), "--out", str(tmp_path / "r"), "--margin", "-0.1"],
                              capsys)
    assert code == 2 and "--margin must be a positive number" in err
