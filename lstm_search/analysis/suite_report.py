"""The report of a suite run (:mod:`lstm_search.suite`): each part's own report, written into
its run folder, and one summary that puts every part's comparisons side by side.

The summary has one row per part, cell under test and baseline: the part's task and metric, the
cell under test (the part's ``cells``, by default the first cell of its space), the design of
the comparison and its number of pairs, the medians of the cell and the baseline, the estimated
difference (cell minus baseline, in the metric's units), how many pairs the cell won and lost,
the Holm-corrected p-value and the verdict, all read from the part report's ``comparison.csv``
and ``summary.csv`` (the same tests and corrections as the part's report; nothing is recomputed
here). A part not run yet gets one row that says so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lstm_search.analysis._output import prepare_report_dir
from lstm_search.analysis._render import Block, to_html, to_markdown
from lstm_search.analysis._table import AnalysisError
from lstm_search.analysis.report import ReportFiles, write_report
from lstm_search.results import TRIALS_FILE, load_curves, load_results
from lstm_search.suite import read_suite_record

SUITE_COLUMNS = ("experiment", "task", "metric", "direction", "cell", "baseline", "design", "n",
                 "median_cell", "median_baseline", "estimate", "n_better", "n_worse",
                 "p_holm", "verdict")


@dataclass
class SuiteReportFiles:
    """What :func:`write_suite_report` wrote: the summary and each part's report."""

    out_dir: Path
    markdown: Path
    html: Path
    table: Path
    parts: dict[str, ReportFiles] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _part_rows(name: str, cells: Sequence[str], baselines: Sequence[str],
               files: ReportFiles) -> list[dict[str, Any]]:
    """The summary rows of one part from its report's comparison and summary tables."""
    comp_path, summ_path = files.tables.get("comparison"), files.tables.get("summary")
    if comp_path is None or summ_path is None:
        return [{"experiment": name, "cell": ", ".join(cells),
                 "verdict": "no comparison (see the part's report)"}]
    comp, summ = pd.read_csv(comp_path), pd.read_csv(summ_path)
    medians = {(str(r.task), str(r.cell)): r.median for r in summ.itertuples()}
    rows = []
    wanted = comp[comp["cell"].astype(str).isin(cells)
                  & comp["baseline"].astype(str).isin(baselines)]
    for r in wanted.itertuples():
        task, cell = str(r.task), str(r.cell)
        rows.append({"experiment": name, "task": task, "metric": r.metric,
                     "direction": r.direction, "cell": cell, "baseline": r.baseline,
                     "design": r.design, "n": r.n,
                     "median_cell": medians.get((task, cell)),
                     "median_baseline": medians.get((task, str(r.baseline))),
                     "estimate": r.estimate, "n_better": r.n_better, "n_worse": r.n_worse,
                     "p_holm": r.p_holm, "verdict": r.verdict})
    return rows or [{"experiment": name, "cell": ", ".join(cells),
                     "verdict": "no comparison of these cells with their baselines"}]


def write_suite_report(suite_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None
                       = None, *, force: bool = False, **options: Any) -> SuiteReportFiles:
    """Write each part's report (``PART_RUN/report``, as ``lstm-search report PART_RUN
    --baseline ...`` would with the part's baselines) and the suite's summary (``report.md``,
    ``report.html``, ``summary.csv``) into ``out`` (default ``SUITE_DIR/report``).

    ``options`` go to every part's :func:`~lstm_search.analysis.write_report` (``alpha``,
    ``seed``, ``margin`` ...). Raises :class:`AnalysisError` for a folder that is not a suite
    run (no readable ``suite.json``).
    """
    suite_dir = Path(suite_dir)
    try:
        record = read_suite_record(suite_dir)
    except ValueError as e:
        raise AnalysisError(str(e)) from None
    out_dir = prepare_report_dir(suite_dir / "report" if out is None else out, force=force)
    rows: list[dict[str, Any]] = []
    parts: dict[str, ReportFiles] = {}
    notes: list[str] = []
    links: list[tuple[str, str]] = []
    for part in record["parts"]:
        name, cells = str(part.get("experiment", "")), [str(c) for c in part["cells"]]
        cell = ", ".join(cells)
        part_dir = suite_dir / part["run_dir"]
        if not (part_dir / TRIALS_FILE).is_file():
            rows.append({"experiment": name, "cell": cell, "verdict": "not run yet"})
            notes.append(f"part {name}: no trials in {part_dir} yet")
            continue
        df = load_results(part_dir)
        present = set(df["cell"].astype(str)) if "cell" in df.columns else set()
        baselines = [b for b in part["baselines"] if b in present]
        if not baselines:
            rows.append({"experiment": name, "cell": cell, "verdict": "no baseline trials yet"})
            notes.append(f"part {name}: none of its baselines ({', '.join(part['baselines'])}) "
                         "has a trial yet")
            continue
        files = write_report(df, prepare_report_dir(part_dir / "report", force=True),
                             curves=load_curves(part_dir), baselines=baselines,
                             sources=[str(part_dir)],
                             title=f"lstm-search report: {record.get('suite')} / {name}",
                             **options)
        parts[name] = files
        notes += [f"part {name}: {n}" for n in files.notes]
        rows += _part_rows(name, cells, baselines, files)
        links.append((f"{name}: {cell} vs {', '.join(baselines)}",
                      os.path.relpath(files.html, out_dir)))
    table = pd.DataFrame(rows, columns=list(SUITE_COLUMNS))
    table_path = out_dir / "summary.csv"
    table.to_csv(table_path, index=False)
    suite = str(record.get("suite", "suite"))
    prov = record.get("provenance") or {}
    blocks = [
        Block("h1", f"Suite {suite}, run {record.get('run', suite_dir.name)}"),
        Block("p", f"{record.get('description', '')} Mode: {record.get('mode', 'default')}; "
                   f"started {record.get('started', '?')} at commit "
                   f"`{str(prov.get('git_commit', '?'))[:12]}`"
                   f"{' (uncommitted changes)' if prov.get('git_dirty') else ''}; "
                   f"{len(record['parts'])} parts, each an ordinary run folder with its own "
                   "report."),
        Block("h2", "Each system against its baselines"),
        Block("p", "One row per part, cell under test and baseline, read from the part's own "
                   "report: `n` pairs (or trials per cell for an independent design), the "
                   "medians of the test metric, `estimate` = cell minus baseline in the "
                   "metric's units, pairs won and lost, the Holm-corrected p-value over the "
                   "cells compared with that baseline, and the verdict at the report's "
                   "alpha."),
        Block("table", table=table.drop(columns=["direction"])),
        Block("h2", "The parts' reports"),
        Block("links", links=links),
    ]
    blocks += [Block("note", n) for n in notes]
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(to_markdown(blocks), encoding="utf-8")
    html_path.write_text(to_html(blocks, f"lstm-search suite {suite}"), encoding="utf-8")
    return SuiteReportFiles(out_dir=out_dir, markdown=md_path, html=html_path,
                            table=table_path, parts=parts, notes=notes)


__all__ = ["SUITE_COLUMNS", "SuiteReportFiles", "write_suite_report"]
