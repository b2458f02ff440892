"""The report command: files, self-contained HTML, verdicts in the CSVs, and bad input."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys

import analysis_fixture_tables as tables
import pandas as pd
from PIL import Image

from lstm_search.cli import main

IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def test_report_writes_every_file(report, capsys):
    code, out = report
    assert code == 0
    for name in ("report.md", "report.html", "summary.csv", "comparison.csv",
                 "importance.csv", "leaderboard.csv"):
        assert (out / name).stat().st_size > 0, name
    md = (out / "report.md").read_text()
    linked = re.findall(r"\]\((figures/[^)]+\.png)\)", md)
    assert len(linked) >= 12  # two tasks: variants x2, importance, hyperparameters, pareto ...
    for path in linked:
        assert (out / path).exists(), path
    assert "Note:" not in md  # the fixture is well-formed: nothing to warn about
    assert "## Task jsb" in md and "## Task recall" in md and "## Methods" in md


def test_html_is_self_contained_and_every_image_decodes(report):
    _, out = report
    html = (out / "report.html").read_text()
    assert not re.search(r'(src|href)="(?!data:)', html)  # no external files or links
    assert "<link" not in html and "<script" not in html
    images = IMG.findall(html)
    assert len(images) == len(list((out / "figures").glob("*.png")))
    for data in images:
        img = Image.open(io.BytesIO(base64.b64decode(data)))
        img.load()
        assert img.format == "PNG" and img.size[0] > 200 and img.size[1] > 100


def test_csv_tables_carry_the_verdicts(report):
    _, out = report
    comp = pd.read_csv(out / "comparison.csv")
    jsb = comp[comp["task"] == "jsb"].set_index(["baseline", "cell"])
    assert jsb.loc[("lstm", "noaf"), "verdict"] == "worse"
    assert jsb.loc[("gru", "noaf"), "verdict"] == "worse"
    recall = comp[comp["task"] == "recall"]
    assert (recall["metric"] == "test.acc").all() and (recall["direction"] == "maximize").all()
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["task"]) == {"jsb", "recall"}
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


def test_empty_folder_writes_a_report_that_says_so(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, out, _ = run_report([str(tmp_path / "empty"), "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and "empty" in out
    html = (tmp_path / "r" / "report.html").read_text()
    assert "results table is empty" in html
    assert list(pd.read_csv(tmp_path / "r" / "summary.csv").columns)[:2] == ["task", "cell"]


def test_one_cell_and_missing_baseline(tmp_path, capsys):
    tables.write_greff_results(tmp_path / "res", cells=("lstm",), trials_per_cell=12)
    code, out, _ = run_report([str(tmp_path / "res"), "--out", str(tmp_path / "r"),
                               "--importance", "ped-anova"], capsys)
    assert code == 0 and "only one cell" in out
    tables.write_greff_results(tmp_path / "res2", cells=("lstm", "nfg"), trials_per_cell=12)
    code, out, _ = run_report([str(tmp_path / "res2"), "--out", str(tmp_path / "r2"),
                               "--baseline", "lstm,mut9", "--importance", "ped-anova"], capsys)
    assert code == 0 and "`mut9`" in out
    comp = pd.read_csv(tmp_path / "r2" / "comparison.csv")
    assert list(comp["cell"]) == ["nfg"] and list(comp["baseline"]) == ["lstm"]


def test_all_trials_failed(tmp_path, capsys):
    tables.write_failed_results(tmp_path / "res")
    code, out, _ = run_report([str(tmp_path / "res"), "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and "no trial completed" in out
    md = (tmp_path / "r" / "report.md").read_text()
    assert "CUDA out of memory" in md  # the failures table says why


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
