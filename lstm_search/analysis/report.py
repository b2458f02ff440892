"""The report: every table and figure of :mod:`lstm_search.analysis` for one or more results
folders, written as ``report.md``, a self-contained ``report.html`` and CSV tables.

Each task of the table gets its own section (metric, summary, comparison with each baseline,
leaderboard, importance, hyperparameters, learning curves, Pareto fronts); a task run at several
settings (task options such as ``gap`` that vary in the table) gets one section per setting, and
a task run at several gaps a figure of accuracy against the lag.
Problems with the input (no trials, one cell, a missing baseline, only failed trials) become
notes in the report rather than errors; a section that cannot be computed says why.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from lstm_search.analysis import curves as _curves
from lstm_search.analysis import plots as _plots
from lstm_search.analysis._render import Block, to_html, to_markdown
from lstm_search.analysis._style import figure_png
from lstm_search.analysis._table import (
    STATUSES_ORDER,
    AnalysisError,
    base_tasks,
    completed,
    group_keys,
    objective_base,
    require_columns,
    table_direction,
    task_groups,
    with_task_labels,
)
from lstm_search.analysis.diagrams import draw_cells
from lstm_search.analysis.importance import (
    ALL_CELLS,
    hyperparameter_importance,
    marginal_effects,
)
from lstm_search.analysis.pareto import leaderboard, pareto_front
from lstm_search.analysis.stats import (
    BETTER,
    COMPARISON_COLUMNS,
    DEFAULT_BASELINES,
    NO_DIFFERENCE,
    WORSE,
    compare_to_baselines,
)
from lstm_search.analysis.summary import SUMMARY_COLUMNS, summarize, task_metric

T = TypeVar("T")
TABLES = ("summary", "comparison", "importance", "marginal_effects", "leaderboard", "pareto",
          "gap")


@dataclass
class ReportFiles:
    """What :func:`write_report` wrote, and the notes it put in the report."""

    out_dir: Path
    markdown: Path
    html: Path
    tables: dict[str, Path] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Report:
    blocks: list[Block] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)
    tables: dict[str, list[pd.DataFrame]] = field(
        default_factory=lambda: {name: [] for name in TABLES})

    def add(self, kind: str, text: str = "", **kw: Any) -> None:
        self.blocks.append(Block(kind, text, **kw))

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.add("note", text)

    def attempt(self, what: str, fn: Callable[[], T]) -> T | None:
        """Run one section; a failure becomes a note naming the section instead of a crash."""
        try:
            return fn()
        except AnalysisError as e:
            self.note(f"{what}: {e}")
        except Exception as e:  # a report must still be written; the note says what broke
            self.note(f"{what} could not be computed ({type(e).__name__}: {e})")
        return None

    def figure(self, name: str, caption: str, make: Callable[[], Any]) -> None:
        fig = self.attempt(f"figure {name!r}", make)
        if fig is not None:
            self.figures[name] = figure_png(fig)
            self.add("figure", caption, png=self.figures[name], name=name)


def build_report(paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                 **options: Any) -> ReportFiles:
    """Load every results folder in ``paths`` and :func:`write_report` into ``out``.

    Raises:
        FileNotFoundError: a path does not exist.
    """
    from lstm_search.results import load_curves, load_results

    for p in paths:
        if not Path(p).exists():
            raise FileNotFoundError(f"results path does not exist: {p}")
    df = load_results(*paths)
    curves = load_curves(*paths)
    return write_report(df, out, curves=curves, sources=[str(p) for p in paths], **options)


def write_report(df: pd.DataFrame, out: str | os.PathLike[str], *,
                 curves: pd.DataFrame | None = None,
                 baselines: Sequence[str] = DEFAULT_BASELINES, metric: str | None = None,
                 top_fraction: float = 0.1, min_top: int = 5, alpha: float = 0.05,
                 seed: int = 0, importance_method: str = "auto", gap_column: str = "task.gap",
                 sources: Sequence[str] = (), title: str = "lstm-search report") -> ReportFiles:
    """Write ``report.md``, ``report.html``, ``figures/*.png`` and the CSV tables
    (``summary``, ``comparison``, ``importance``, ``marginal_effects``, ``leaderboard``,
    ``pareto``, ``gap`` and ``trials``, every trial of ``df``) into ``out``; a table with
    nothing in it (no gap figure, no importance) is not written.

    Args:
        df: the table of :func:`lstm_search.results.load_results`.
        curves: the table of :func:`lstm_search.results.load_curves` (learning curves).
        baselines: cells every other cell is compared with (LSTM and GRU by default).
        metric: the column compared (default per task: the test metric of the objective).
        top_fraction, min_top: Greff's best-10% selection (at least ``min_top`` trials).
        alpha: significance level applied to Holm-corrected p-values.
        seed: seeds the bootstrap intervals and fANOVA's forest.
        importance_method: "auto" (fANOVA with scikit-learn, else PED-ANOVA), "fanova",
            "ped-anova".
        gap_column: the lag column of long-lag recall tasks (``task.gap``; older tables with
            the gap as a hyperparameter, ``hp.gap``, are read too).
        sources: the folders the table was read from (named in the report).
    """
    out_dir = Path(out)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    r = _Report()
    opts = dict(top_fraction=top_fraction, min_top=min_top)
    r.add("h1", title)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    r.add("p", f"Generated {now} from {', '.join(f'`{s}`' for s in sources) or 'a table'}.")
    _table_problems(r, df, curves)
    ok = _check_table(r, df)
    if ok:
        df = with_task_labels(df)
        base = base_tasks(df)
        tasks = list(pd.unique(base))
        r.add("p", f"{len(df)} trials, {df['cell'].nunique()} cells, {len(tasks)} task(s): "
                   + ", ".join(_task_overview(df[base == t], str(t)) for t in tasks)
                   + ". Baselines: " + ", ".join(f"`{b}`" for b in baselines) + ".")
        for task in tasks:
            rows = df[base == task]
            for label, tdf in task_groups(rows):
                _task_section(r, tdf, label, curves, baselines, metric, alpha=alpha, seed=seed,
                              importance_method=importance_method, **opts)
            _gap_sections(r, rows, gap_column, metric, baselines, **opts)
    _methods(r, top_fraction, min_top, alpha)

    files = ReportFiles(out_dir=out_dir, markdown=out_dir / "report.md",
                        html=out_dir / "report.html", notes=list(r.notes))
    for name, png in r.figures.items():
        path = out_dir / "figures" / f"{name}.png"
        path.write_bytes(png)
        files.figures[name] = path
    columns = {"summary": SUMMARY_COLUMNS, "comparison": COMPARISON_COLUMNS}
    for name, parts in [*r.tables.items(), ("trials", [_trials_table(df)])]:
        parts = [p for p in parts if len(p)]
        table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=columns.get(name, []))
        if not len(table.columns):  # nothing to write: no header-less 1-byte file
            continue
        files.tables[name] = out_dir / f"{name}.csv"
        csv_safe(table).to_csv(files.tables[name], index=False)
    files.markdown.write_text(to_markdown(r.blocks), encoding="utf-8")
    files.html.write_text(to_html(r.blocks, title), encoding="utf-8")
    return files


def _trials_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every trial of the table, one row each (``trials.csv``): identity, hyperparameters,
    metrics first, then the rest; empty columns and the recorded ``git_diff`` are left out."""
    if df.empty:
        return df
    first = ["experiment", "run", "trial", "cell", "genome_id", "status", "seed"]
    lead = [c for c in first if c in df.columns]
    hp = sorted(c for c in df.columns if str(c).startswith("hp."))
    metrics = sorted(c for c in df.columns if str(c).split(".")[0] in ("train", "valid", "test"))
    ordered = [*lead, *hp, *metrics]
    rest = [c for c in df.columns if c not in ordered and c != "git_diff"]  # diff: in the JSONL
    return df[ordered + rest].dropna(axis=1, how="all")


def _table_problems(r: _Report, df: pd.DataFrame, curves: pd.DataFrame | None) -> None:
    """A note for each problem :func:`~lstm_search.results.load_results` and
    :func:`~lstm_search.results.load_curves` found (damaged lines skipped, duplicated trial
    rows ignored, implausible metric values), with the total of skipped lines first."""
    from lstm_search.results import PROBLEMS_ATTR

    problems = [*(getattr(df, "attrs", {}).get(PROBLEMS_ATTR) or []),
                *(getattr(curves, "attrs", {}).get(PROBLEMS_ATTR) or [])]
    if not problems:
        return
    skipped = sum(int(m.group(1)) for m in map(_SKIPPED.search, problems) if m)
    duplicated = sum(int(m.group(1)) for m in map(_DUPLICATED.search, problems) if m)
    r.note(f"The results files are damaged: {skipped} damaged line(s) skipped, {duplicated} "
           f"duplicated trial row(s) ignored (the first row of a trial is kept); details "
           f"follow.")
    for text in problems:
        r.note(text)


_SKIPPED = re.compile(r": skipped (\d+) damaged line")
_DUPLICATED = re.compile(r": ignored (\d+) duplicated")


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with text cells that a spreadsheet would run as a formula (starting with
    ``=``, ``+``, ``-``, ``@``, tab or carriage return) prefixed with ``'``; numbers, also
    negative ones, are left as they are."""
    out = table.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(
                lambda v: "'" + v if isinstance(v, str) and v[:1] in _FORMULA else v)
    return out


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _check_table(r: _Report, df: pd.DataFrame) -> bool:
    if df is None or len(df) == 0:
        r.note("The results table is empty: no `trials.jsonl` rows were found under the given "
               "path(s). Run a search first (`lstm-search run ...`) or point the report at its "
               "results folder.")
        return False
    try:
        require_columns(df, ["task", "cell", "status", "objective"], "report")
    except AnalysisError as e:
        r.note(str(e))
        return False
    return True


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text)


def _task_overview(rows: pd.DataFrame, task: str) -> str:
    """```recall` (3 settings: gap=10, gap=20, gap=40)`` or just ```jsb```."""
    labels = list(dict.fromkeys(label for label, _ in task_groups(rows)))
    if len(labels) < 2:
        return f"`{task}`"
    return f"`{task}` ({len(labels)} settings: " + ", ".join(
        label.removeprefix(task).strip() for label in labels) + ")"


def _status_counts(tdf: pd.DataFrame) -> str:
    """``"6 failed, 2 invalid"``: trial counts by status, plain integers."""
    counts = tdf["status"].value_counts()
    return ", ".join(f"{int(n)} {status}" for status, n in counts.items())


def _task_section(r: _Report, tdf: pd.DataFrame, task: str, curves: pd.DataFrame | None,
                  baselines: Sequence[str], metric: str | None, *, top_fraction: float,
                  min_top: int, alpha: float, seed: int, importance_method: str) -> None:
    opts = dict(top_fraction=top_fraction, min_top=min_top)
    slug = _slug(task)
    r.add("h2", f"Task {task}")
    if completed(tdf).empty:
        _nothing_completed(r, tdf, task, **opts)
        return
    chosen = r.attempt(f"task {task!r}", lambda: task_metric(tdf, metric))
    if chosen is None:
        return
    name, direction = chosen
    better = "lower" if direction == "minimize" else "higher"
    objective = objective_base(tdf) or "objective"
    r.add("p", f"Metric `{name}` ({better} is better). \"Best 10%\": a cell's completed trials "
               f"ranked by the validation objective (`{objective}`, "
               f"{table_direction(tdf)}d), the best "
               f"{top_fraction:.0%} and at least {min_top} (Greff et al. 2015).")
    summary = r.attempt("summary", lambda: summarize(tdf, name, **opts))
    if summary is not None:
        r.tables["summary"].append(summary)
        r.add("h3", "Summary per cell")
        r.add("table", table=_summary_view(summary, better))
    _failures(r, tdf)
    done = completed(tdf, name)
    if done.empty:
        r.note(f"task `{task}`: no completed trial has a value of `{name}` "
               f"({_status_counts(tdf)}); nothing to compare or plot.")
        return
    cells = group_keys(done, "cell")
    present = [b for b in baselines if b in cells]
    r.add("h3", "Comparison with the baselines")
    if len(cells) < 2:
        r.note(f"task `{task}`: only one cell (`{cells[0]}`) has completed trials; there is "
               "nothing to compare it with.")
    else:
        _baseline_notes(r, tdf, task, baselines, cells)
    comparison = None
    if len(cells) >= 2 and present:
        comparison = r.attempt("comparison", lambda: compare_to_baselines(
            tdf, present, metric=name, alpha=alpha, seed=seed, **opts))
    if comparison is not None:
        r.tables["comparison"].append(comparison)
        for base in present:
            comp = comparison[comparison["baseline"] == base]
            r.add("p", _verdict_sentence(comp, base, alpha))
            r.add("table", table=_comparison_view(comp),
                  classes={BETTER: "better", WORSE: "worse", NO_DIFFERENCE: "same"})
            r.figure(f"{slug}-variants-vs-{base}",
                     f"Variants against `{base}`: test metric of all completed trials (top) and "
                     f"of the best {top_fraction:.0%} by validation (bottom); blue: "
                     f"significantly better, orange: significantly worse (Holm-corrected).",
                     lambda base=base: _plots.variant_boxplot(
                         tdf, comparison, baseline=base, metric=name, alpha=alpha, **opts))

    board = r.attempt("leaderboard", lambda: leaderboard(tdf, metric=name, **opts))
    if board is not None and len(board):
        r.tables["leaderboard"].append(board)
        r.add("h3", "Leaderboard")
        r.add("table", table=board.drop(columns=["task", "metric", "best_run"]).assign(
            best_hparams=board["best_hparams"].map(_compact_hparams)))
        _diagrams(r, tdf, board, slug)

    r.add("h3", "Hyperparameters")
    imp = r.attempt("importance", lambda: hyperparameter_importance(
        tdf, method=importance_method, seed=seed))  # type: ignore[arg-type]
    if imp is not None:
        skipped = [x.removeprefix(f"task {task!r}, ") for x in imp.attrs.get("skipped", [])]
        if skipped:
            r.add("p", "Importance skipped for " + "; ".join(skipped) + ".")
        if len(imp):
            r.tables["importance"].append(imp)
            pooled = imp[imp["cell"] == ALL_CELLS]
            if len(pooled):
                r.add("p", "Importance of each hyperparameter, all cells pooled (the cell is "
                           "one of the parameters):")
                r.add("table", table=pooled[["param", "importance", "rank", "method",
                                             "n_trials"]])
            r.figure(f"{slug}-importance", "Hyperparameter importance (share of the variance of "
                     "the validation objective explained by each hyperparameter alone).",
                     lambda: _plots.importance_plot(imp, task=task))
    _marginal(r, tdf, name, slug)
    if curves is not None and len(curves) and len(_curves.curves_with_cells(curves, tdf)):
        r.add("h3", "Learning curves")
        r.figure(f"{slug}-curves", "Median validation curve of each cell's best trials "
                 "(band: quartiles); baselines dashed.",
                 lambda: _curves.learning_curves_plot(curves, tdf, baselines=baselines, **opts))
    r.add("h3", "Quality against cost")
    front = r.attempt("Pareto front", lambda: pd.concat(
        [pareto_front(tdf, cost=c, metric=name).assign(cost=c)
         for c in ("n_params", "train_seconds") if c in tdf.columns], ignore_index=True))
    if front is not None and len(front):
        keep = ["task", "cost", "cell", "genome_id", "run", "trial", "n_params",
                "train_seconds", name]
        r.tables["pareto"].append(front[[c for c in keep if c in front.columns]])
        r.add("table", table=front[[c for c in keep[1:] if c in front.columns
                                    and c not in ("genome_id", "run")]])
    r.figure(f"{slug}-pareto", "Trials by quality and cost; the Pareto front (no trial is both "
             "better and cheaper) in orange.", lambda: _plots.pareto_plot(tdf, metric=name))


def _nothing_completed(r: _Report, tdf: pd.DataFrame, task: str, *, top_fraction: float,
                       min_top: int) -> None:
    """The section of a task none of whose trials completed: counts and errors only."""
    objective = objective_base(tdf) or "objective"
    r.add("p", f"No trial completed ({_status_counts(tdf)}), so there is no metric to compare "
               f"(the search optimised `{objective}`).")
    summary = r.attempt("summary", lambda: summarize(tdf, top_fraction=top_fraction,
                                                     min_top=min_top))
    if summary is not None:
        r.tables["summary"].append(summary)
        r.add("h3", "Trials per cell")
        r.add("table", table=summary[["cell", "trials", *STATUSES_ORDER]])
    _failures(r, tdf)
    r.note(f"task `{task}`: no trial completed ({_status_counts(tdf)}); nothing to compare or "
           "plot.")


def _baseline_notes(r: _Report, tdf: pd.DataFrame, task: str, baselines: Sequence[str],
                    cells: list[Any]) -> None:
    """A note per baseline that cannot be compared with: absent, or without a completed trial."""
    listed = ", ".join(f"`{c}`" for c in cells)
    absent = [b for b in baselines if b not in set(tdf["cell"])]
    idle = [b for b in baselines if b in set(tdf["cell"]) and b not in cells]
    for b in idle:
        r.note(f"`{b}` has no completed trial on task `{task}` "
               f"({_status_counts(tdf[tdf['cell'] == b])}); it is left out of the comparison.")
    if absent:
        r.note(f"task `{task}`: baseline(s) {', '.join(f'`{b}`' for b in absent)} not in the "
               f"table (cells with completed trials: {listed}); pass `--baseline` with a cell "
               "name from this list.")


def _marginal(r: _Report, tdf: pd.DataFrame, name: str, slug: str) -> None:
    """Marginal effects (CSV table) and the figure of the metric against each hyperparameter."""
    marginal = r.attempt("marginal effects",
                         lambda: marginal_effects(completed(tdf, name), target=name))
    if marginal is None:
        return
    if marginal.empty:
        r.add("p", "No hyperparameter varies among the completed trials; nothing to plot "
                   "against.")
        return
    r.tables["marginal_effects"].append(marginal.assign(metric=name))
    r.figure(f"{slug}-hyperparameters", f"`{name}` against each hyperparameter, with the "
             "binned mean and its 95% confidence interval (table: `marginal_effects.csv`).",
             lambda: _plots.hyperparameter_plot(tdf, metric=name, marginal=marginal))


def _gap_sections(r: _Report, rows: pd.DataFrame, gap_column: str, metric: str | None,
                  baselines: Sequence[str], *, top_fraction: float, min_top: int) -> None:
    """Accuracy against the lag for each setting of a task's other options, when the task was
    run at more than one gap."""
    try:
        gap = _curves.gap_column_of(rows, gap_column)
    except AnalysisError:
        return
    opts = dict(top_fraction=top_fraction, min_top=min_top)
    for label, g in _curves.gap_settings(rows, gap):
        if completed(g, gap)[gap].nunique() < 2:
            continue
        r.add("h2", f"Task {label}: accuracy against the lag")
        data = r.attempt(f"accuracy against `{gap}`", lambda g=g, label=label: _curves.gap_data(
            g, gap_column=gap, metric=metric, task=label, **opts))
        if data is None or data.empty:
            continue
        r.tables["gap"].append(data.assign(metric=data.attrs["metric"], gap_column=gap))
        r.add("p", f"The comparisons above are per `{gap}`; this figure puts them side by side. "
                   f"Each point is the mean `{data.attrs['metric']}` of a cell's best "
                   f"{top_fraction:.0%} trials at that gap by the validation objective (at "
                   f"least {min_top}, fewer where fewer completed); the band is one standard "
                   "deviation either side. Table: `gap.csv`.")
        lo, hi = int(data["n"].min()), int(data["n"].max())
        r.figure(f"{_slug(label)}-gap", f"`{data.attrs['metric']}` against `{gap}` per cell: "
                 f"mean ± SD over the best {top_fraction:.0%} trials by validation (at least "
                 f"{min_top}); {lo if lo == hi else f'{lo}-{hi}'} trial(s) per point.",
                 lambda g=g, label=label: _curves.gap_plot(
                     g, gap_column=gap, metric=metric, task=label, baselines=baselines,
                     **opts))


def _compact_hparams(text: str) -> str:
    """``{"hidden": 80, "lr": 0.01768...}`` as ``hidden=80, lr=0.0177`` for the page."""
    import json

    items = json.loads(text).items()
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in items)


def _summary_view(summary: pd.DataFrame, better: str) -> pd.DataFrame:
    view = summary.drop(columns=["task", "metric", "direction", "genome_id"]).rename(columns={
        "best": f"best ({better})", "median": "median", "top_mean": "best 10% mean",
        "top_n": "n (best 10%)", "n_params": "params (median)",
        "seconds_median": "s / trial (median)"})
    return view


def _comparison_view(comp: pd.DataFrame) -> pd.DataFrame:
    view = pd.DataFrame({
        "cell": comp["cell"],
        "n": comp["n_cell"],
        "best 10% mean diff": comp["top_mean_diff"],
        "Welch p (Holm)": comp["welch_p_holm"],
        "Cohen's d": comp["cohens_d"],
        "verdict (best 10%)": comp["verdict"],
        "median diff": comp["median_diff"],
        "95% CI": [f"[{lo:.3g}, {hi:.3g}]" if pd.notna(lo) else ""
                   for lo, hi in zip(comp["median_diff_ci_low"], comp["median_diff_ci_high"])],
        "MWU p (Holm)": comp["mwu_p_holm"],
        "Cliff's δ": comp["cliffs_delta"],
        "verdict (all trials)": comp["verdict_all"],
    })
    return view.reset_index(drop=True)


def _verdict_sentence(comp: pd.DataFrame, base: str, alpha: float) -> str:
    def names(v: str, col: str) -> str:
        cells = list(comp.loc[comp[col] == v, "cell"])
        return ", ".join(f"`{c}`" for c in cells) if cells else "none"

    return (f"Against `{base}` (α = {alpha:g}, Holm-corrected over {len(comp)} cells). "
            f"Tuned (best 10%, Welch): better: {names(BETTER, 'verdict')}; worse: "
            f"{names(WORSE, 'verdict')}. Over all trials (Mann-Whitney): better: "
            f"{names(BETTER, 'verdict_all')}; worse: {names(WORSE, 'verdict_all')}. "
            "Differences are cell minus baseline.")


def _failures(r: _Report, tdf: pd.DataFrame) -> None:
    bad = tdf[tdf["status"].isin(["failed", "invalid"])]
    if bad.empty or "error" not in bad.columns:
        return
    errors = (bad.assign(error=bad["error"].fillna("(no message)").astype(str).str.slice(0, 120))
              .groupby(["status", "error"]).agg(trials=("cell", "size"),
                                                cells=("cell", lambda c: ", ".join(
                                                    sorted(set(map(str, c)))[:6])))
              .reset_index().sort_values("trials", ascending=False).head(8))
    r.add("p", f"{len(bad)} trial(s) failed or were invalid; the most common errors:")
    r.add("table", table=errors)


def _diagrams(r: _Report, tdf: pd.DataFrame, board: pd.DataFrame, slug: str) -> None:
    top = list(board["cell"].head(3))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        drawn, notes = draw_cells(tdf, top, tmp)
        items = []
        for cell, path in drawn.items():
            name = f"{slug}-{path.stem}"
            r.figures[name] = path.read_bytes()
            items.append((name, f"Cell `{cell}` (rank {top.index(cell) + 1})",
                          r.figures[name]))
    if items:
        r.add("p", "Cell diagrams of the best cells:")
        r.add("gallery", items=items)
    if notes and not drawn:
        r.add("p", f"Cell diagrams left out: {notes[0]}.")


def _methods(r: _Report, top_fraction: float, min_top: int, alpha: float) -> None:
    r.add("h2", "Methods")
    r.add("p", f"Tuned quality follows Greff et al. (2015, \"LSTM: A Search Space Odyssey\"): "
               f"the {top_fraction:.0%} of each cell's completed trials that are best on the "
               f"validation objective (at least {min_top}) are compared on the test metric with "
               "Welch's t-test (unequal variances); the effect size is Cohen's d with the pooled "
               "standard deviation. Selecting the best trials makes these samples order "
               "statistics rather than random draws, so read the t-test as a screening device, "
               "as in the paper.")
    r.add("p", "Robustness to hyperparameters: all completed trials are compared with the "
               "two-sided Mann-Whitney U test; the effect size is Cliff's delta "
               "P(cell > baseline) - P(cell < baseline); the difference of medians carries a "
               "95% percentile bootstrap interval (2,000 resamples per group, seeded).")
    r.add("p", f"p-values are corrected with Holm's step-down method over the cells compared "
               f"with one baseline in one task, separately for each test; a verdict is "
               f"\"better\" or \"worse\" when the corrected p-value is below {alpha:g}, in the "
               "direction of the metric. Differences and effect sizes are cell minus baseline.")
    r.add("p", "Cohen's d is left blank where it is undefined: fewer than two trials in a group, "
               "or a pooled standard deviation of zero (every selected trial scored the same). "
               "Two constant samples get no Welch test either.")
    r.add("p", "Runs of one task at different settings are analysed apart: the task options "
               "recorded with each trial (`task.gap`, `task.n_train` ...) that take more than "
               "one value for a task label its sections (`recall gap=50`), so no comparison, "
               "summary, figure or importance pools two settings. Replicate options "
               "(`data_seed`) are pooled. Runs whose recorded model or training settings "
               "(`run.json`) differ are labelled and analysed apart the same way "
               "(`recall train.epochs=3`). Accuracy against the lag shows, per cell and gap, the "
               f"mean and standard deviation of the best {top_fraction:.0%} trials by "
               f"validation objective (at least {min_top}).")
    r.add("p", "Hyperparameter importance is the share of variance of the validation objective "
               "explained by each hyperparameter's main effect, estimated by fANOVA (Hutter et "
               "al. 2014) as implemented in Optuna, or by PED-ANOVA (Watanabe et al. 2023) "
               "without scikit-learn. Trials become an in-memory Optuna study with "
               "distributions inferred from the values (log scale for learning rates and for "
               "positive values spread over a wide range); log-scale hyperparameters enter "
               "both evaluators as log10 values, since Optuna's fANOVA would otherwise read "
               "them on a linear scale. A group (a cell, or all cells pooled) with fewer than "
               "10 completed trials or whose trials all scored the same is skipped, and says "
               "so.")
