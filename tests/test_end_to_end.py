"""The README's main path end to end, in the default test tier: ``lstm-search run quickstart
--smoke`` and then ``lstm-search report`` on its run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lstm_search.cli import main


def test_quickstart_smoke_then_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    assert main(["run", "quickstart", "--smoke", "--out", str(results), "--run", "e2e"]) == 0
    run_dir = results / "quickstart" / "e2e"
    rows = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["status"] for r in rows} == {"complete"}
    assert {r["cell"] for r in rows} <= {"lstm", "gru", "nfg", "cifg"}
    info = json.loads((run_dir / "run.json").read_text())
    assert info["invocation"]["smoke"] is True and info["experiment"]["name"] == "quickstart"

    report = tmp_path / "report"
    assert main(["report", str(run_dir), "--out", str(report)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    html = (report / "report.html").read_text()
    md = (report / "report.md").read_text()
    assert "quickstart" in md and "<img" in html
    for cell in {r["cell"] for r in rows}:
        assert cell in md
