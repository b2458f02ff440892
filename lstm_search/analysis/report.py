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
    MIN_JOINT,
    available_method,
    hyperparameter_importance,
    joint_values,
    marginal_effects,
    scales,
    variance_shares,
)
from lstm_search.analysis.pareto import leaderboard, pareto_front
from lstm_search.analysis.stats import (
    BETTER,
    COMPARISON_COLUMNS,
    DEFAULT_BASELINES,
    DEFAULT_MARGIN_FRACTION,
    EQUIVALENT,
    INCONCLUSIVE,
    INSUFFICIENT,
    NOT_APPLICABLE,
    WORSE,
    compare_to_baselines,
)
from lstm_search.analysis.summary import (
    GREFF_MIN_SELECTED,
    GREFF_MIN_TRIALS,
    SUMMARY_COLUMNS,
    summarize,
    task_metric,
)

T = TypeVar("T")
TABLES = ("summary", "comparison", "importance", "marginal_effects", "leaderboard", "pareto",
          "gap", "variance_shares")


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


def _rescored(r: _Report, df: pd.DataFrame) -> pd.DataFrame:
    """Evolutionary rows: the objective against the GRU's final references (see
    :mod:`lstm_search.analysis.fitness`), said in the report with the largest change."""
    from lstm_search.analysis.fitness import RECORDED, rescore_evolution

    out = rescore_evolution(df)
    if RECORDED not in out.columns:
        return out
    moved = (pd.to_numeric(out["objective"]) - pd.to_numeric(out[RECORDED])).abs()
    n = int((moved > 1e-12).sum())
    r.add("p", "Evolutionary search: each trial's objective here is its fitness against the "
               "GRU's best result on every stage over the whole run (Jozefowicz et al. 2015, "
               "sec. 3: the minimum over the stages reached of result / GRU), as the search "
               "ranks its population; the row records the fitness against the GRU's best "
               f"so far when the trial ran (`{RECORDED}` in `trials.csv`). {n} trial(s) "
               "change" + (f", by up to {float(moved.max()):.3g}." if n else "."))
    return out


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
                 sources: Sequence[str] = (), title: str = "lstm-search report",
                 margin: float | None = None) -> ReportFiles:
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
        seed: seeds the bootstrap intervals and fANOVA's forests (recorded in the report).
        margin: equivalence margin in metric units (default: a fraction of each baseline's
            robust spread, see :func:`~lstm_search.analysis.compare_to_baselines`).
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
    df = _rescored(r, df)
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
                              importance_method=importance_method, margin=margin, **opts)
            _gap_sections(r, rows, gap_column, metric, baselines, **opts)
    _methods(r, top_fraction, min_top, alpha, seed, margin)

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
                  min_top: int, alpha: float, seed: int, importance_method: str,
                  margin: float | None = None) -> None:
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
    r.add("p", f"Metric `{name}` ({better} is better). Every \"best\" is chosen on the "
               f"validation objective (`{objective}`, {table_direction(tdf)}d) and reports the "
               f"chosen trial's `{name}`. \"Best 10%\": a cell's completed trials ranked by "
               f"the validation objective, the best {top_fraction:.0%} and at least {min_top} "
               f"(Greff et al. 2015), shown only where that keeps at least "
               f"{GREFF_MIN_SELECTED} of at least {GREFF_MIN_TRIALS} trials.")
    summary = r.attempt("summary", lambda: summarize(tdf, name, **opts))
    if summary is not None:
        r.tables["summary"].append(summary)
        r.add("h3", "Summary per cell")
        r.add("table", table=_summary_view(summary, better))
        _greff_note(r, summary)
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
            tdf, present, metric=name, alpha=alpha, seed=seed, margin=margin, **opts))
    if comparison is not None:
        r.tables["comparison"].append(comparison)
        design = comparison.attrs["designs"].get(task)
        if design is not None:
            r.add("p", f"Design: {design.reason}")
        for base in present:
            comp = comparison[comparison["baseline"] == base]
            r.add("p", _verdict_sentence(comp, base, alpha, margin is None))
            view, classes = _comparison_view(comp, alpha)
            r.add("table", table=view, classes=classes)
            tuned = bool(comp["top_applies"].astype(bool).any()) if len(comp) else True
            caption = (f"Variants against `{base}`: test metric of all completed trials (top) "
                       f"and of the best {top_fraction:.0%} by validation (bottom); colours: "
                       "the verdict of the table above (top) and of Greff's tuned comparison "
                       "(bottom, grey where it does not apply)." if tuned else
                       f"Variants against `{base}`: test metric of all completed trials; "
                       "colours: the verdict of the table above (Greff's best-10% panel is "
                       "left out: too few trials for it).")
            r.figure(f"{slug}-variants-vs-{base}", caption,
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
    _importance(r, tdf, task, slug, importance_method, seed)
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


def _importance(r: _Report, tdf: pd.DataFrame, task: str, slug: str, method: str,
                seed: int) -> None:
    """Importance per hyperparameter (median and range over forest seeds), how identified it
    is, the variance decomposition with interactions, and the scales read."""
    done = completed(tdf, "objective")
    joint = joint_values(done)
    if 0 < joint < MIN_JOINT:
        r.add("p", f"Warning: the hyperparameters take only {joint} distinct joint values "
                   f"in the completed trials (fewer than {MIN_JOINT}): any hyperparameter that "
                   "separates these points can be credited with the variance, so which one "
                   "matters is not identified by these trials. Read the ranking below as "
                   "unresolved where the ranges over forest seeds overlap.")
    imp = r.attempt("importance", lambda: hyperparameter_importance(
        tdf, method=method, seed=seed))  # type: ignore[arg-type]
    if imp is not None:
        skipped = [x.removeprefix(f"task {task!r}, ") for x in imp.attrs.get("skipped", [])]
        if skipped:
            r.add("p", "Importance skipped for " + "; ".join(skipped) + ".")
        if len(imp):
            r.tables["importance"].append(imp)
            pooled = imp[imp["cell"] == ALL_CELLS]
            if len(pooled):
                n_seeds = int(pooled["n_seeds"].max())
                r.add("p", "Importance of each hyperparameter, all cells pooled (the cell is "
                           "one of the parameters): its main effect normalised so that the "
                           "main effects sum to 1 (interactions left out), "
                           + (f"median and range over {n_seeds} forest seeds:"
                              if n_seeds > 1 else "one evaluation (no forest seed):"))
                view = pooled.assign(range=[f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(
                    pooled["importance_low"], pooled["importance_high"])])
                r.add("table", table=view[["param", "importance", "range", "rank", "method",
                                           "n_trials"]])
            r.figure(f"{slug}-importance", "Hyperparameter importance: each hyperparameter's "
                     "main effect on the validation objective, normalised so that the main "
                     "effects sum to 1 (interactions are not included; the variance "
                     "decomposition table gives their share).",
                     lambda: _plots.importance_plot(imp, task=task))
    if available_method(method) == "fanova":  # type: ignore[arg-type]
        shares = r.attempt("variance decomposition", lambda: variance_shares(tdf, seed=seed))
        if shares is not None and len(shares):
            r.tables["variance_shares"].append(shares)
            main = shares[shares["kind"] == "main"]
            inter = shares[shares["kind"] == "interaction"]
            shown = shares[shares["share_high"] >= 0.01].sort_values("share", ascending=False)
            r.add("p", f"Variance decomposition (fANOVA, all cells pooled, shares of the total "
                       f"variance of the validation objective): main effects explain "
                       f"{main['share'].sum():.0%} (median over {int(main['n_seeds'].max())} "
                       f"forests), pairwise interactions {inter['share'].sum():.0%} (over "
                       f"{int(inter['n_seeds'].max()) if len(inter) else 0} forests); terms "
                       "reaching 1% (all in `variance_shares.csv`):")
            r.add("table", table=shown.assign(range=[
                f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(shown["share_low"],
                                                          shown["share_high"])])[
                ["term", "kind", "share", "range"]])
    read = r.attempt("scales", lambda: scales(done))
    if read:
        r.add("p", "Scales read: " + "; ".join(f"`{n}` {sc} ({src})" for n, sc, src in read)
                   + ". \"Inferred\": the rows record no distribution (older tables), so the "
                   "scale is guessed from the values.")


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
        r.tables["gap"].append(data.drop(columns="values").assign(
            metric=data.attrs["metric"], gap_column=gap))
        which = _curves.gap_selection_text(data, top_fraction, min_top)
        r.add("p", f"The comparisons above are per `{gap}`; this figure puts them side by side. "
                   f"Each point is the mean `{data.attrs['metric']}` of a cell's trials at that "
                   f"gap, over {which}; the band is one standard deviation either side and "
                   "the dots are the trials. Table: `gap.csv`.")
        lo, hi = int(data["n"].min()), int(data["n"].max())
        r.figure(f"{_slug(label)}-gap", f"`{data.attrs['metric']}` against `{gap}` per cell: "
                 f"mean ± SD over {which}; {lo if lo == hi else f'{lo}-{hi}'} trial(s) per "
                 "point.",
                 lambda g=g, label=label: _curves.gap_plot(
                     g, gap_column=gap, metric=metric, task=label, baselines=baselines,
                     **opts))


def _compact_hparams(text: str) -> str:
    """``{"hidden": 80, "lr": 0.01768...}`` as ``hidden=80, lr=0.0177`` for the page."""
    import json

    items = json.loads(text).items()
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in items)


def _summary_view(summary: pd.DataFrame, better: str) -> pd.DataFrame:
    view = summary.assign(top_mean=summary["top_mean"].where(summary["top_applies"]))
    view = view.drop(columns=["task", "metric", "direction", "genome_id", "best_valid",
                              "top_applies"]).rename(columns={
        "best": "best by validation: test", "best_trial": "its trial", "median": "median",
        "top_mean": "best 10% mean", "top_n": "n (best 10%)", "n_params": "params (median)",
        "seconds_median": "s / trial (median)"})
    return view


def _greff_note(r: _Report, summary: pd.DataFrame) -> None:
    """Say where Greff's best-10% selection is left out and why."""
    short = summary[~summary["top_applies"].astype(bool)]
    if short.empty:
        return
    sizes = sorted({int(n) for n in short["complete"]})
    r.add("p", f"\"Best 10% mean\" is left blank for {len(short)} of {len(summary)} cells: "
               f"they have {', '.join(map(str, sizes))} completed trial(s), and Greff's "
               f"criterion means something only where it keeps at least {GREFF_MIN_SELECTED} of "
               f"at least {GREFF_MIN_TRIALS} (below that \"the best 10%\" is most or all of "
               "the trials). Cells are ordered by their median, and compared below on all "
               "trials (paired on settings where the design allows).")


def _comparison_view(comp: pd.DataFrame, alpha: float = 0.05
                     ) -> tuple[pd.DataFrame, dict[str, str]]:
    """The comparison table as the page shows it, and the CSS class of each verdict text."""
    paired = (comp["design"] == "paired").any()
    texts = [_verdict_text(v, m) for v, m in zip(comp["verdict"], comp["margin"])]
    view = pd.DataFrame({
        "cell": comp["cell"],
        "n": comp["n"] if paired else [f"{c} vs {b}" for c, b in zip(comp["n_cell"],
                                                                       comp["n_baseline"])],
        "test": comp["test"],
        "p (Holm)": comp["p_holm"],
        "median diff [95% CI]": [_estimate(e, lo, hi) for e, lo, hi in zip(
            comp["estimate"], comp["ci_low"], comp["ci_high"])],
    })
    if paired:
        view["better / worse / tied"] = [
            "" if pd.isna(b) else f"{int(b)} / {int(w)} / {int(t)}"
            for b, w, t in zip(comp["n_better"], comp["n_worse"], comp["n_tied"])]
    view["t-test p"] = comp["t_p"]
    view["Cliff's δ"] = comp["cliffs_delta"]
    view["Cohen's d"] = ["" if pd.isna(d) else "n/a: ceiling" if z else f"{d:.3g}"
                         for d, z in zip(comp["cohens_d"],
                                         [c is True or c == 1 for c in comp["ceiling"]])]
    view["verdict"] = texts
    family = len(comp)
    view["MDE (n for ±margin)"] = [
        _mde(r.mde, r.n_for_margin, _floor(r, family), alpha) if r.verdict == INCONCLUSIVE else ""
        for r in comp.itertuples(index=False)]
    if comp["top_applies"].astype(bool).any():
        view["tuned (best 10%, Welch)"] = comp["verdict_tuned"]
    classes = {t: c for t, c in zip(texts, map(_verdict_class, comp["verdict"]))}
    return view.reset_index(drop=True), classes


def _verdict_text(verdict: str, margin: float) -> str:
    return f"{EQUIVALENT} within ±{margin:.3g}" if verdict == EQUIVALENT else str(verdict)


def _verdict_class(verdict: str) -> str:
    return {BETTER: "better", WORSE: "worse", EQUIVALENT: "same"}.get(verdict, "")


def _estimate(e: float, lo: float, hi: float) -> str:
    if pd.isna(e):
        return ""
    return f"{e:.3g} [{lo:.3g}, {hi:.3g}]" if pd.notna(lo) else f"{e:.3g}"


def _floor(r: Any, family: int) -> float:
    """The smallest Holm-adjusted p the exact rank test could give at this n (the first step
    of Holm multiplies by the family size)."""
    from lstm_search.analysis._rank import smallest_p

    if r.design == "paired":
        return min(1.0, family * smallest_p(int(r.n), True))
    return min(1.0, family * smallest_p(int(r.n_cell), False, int(r.n_baseline)))


def _mde(mde: float, n: float, floor: float, alpha: float) -> str:
    text = "n/a (no spread)" if pd.isna(mde) else f"{mde:.3g}" + (
        "" if pd.isna(n) else f" (n ≈ {int(n)})")
    return text + (f"; smallest p possible at this n: {floor:.2g}" if floor >= alpha else "")


def _verdict_sentence(comp: pd.DataFrame, base: str, alpha: float, default_margin: bool
                      ) -> str:
    def names(v: str) -> str:
        cells = list(comp.loc[comp["verdict"] == v, "cell"])
        return ", ".join(f"`{c}`" for c in cells) if cells else "none"

    design = str(comp["design"].iloc[0]) if len(comp) else "?"
    margin = float(comp["margin"].iloc[0]) if len(comp) else float("nan")
    how = (f"default: {DEFAULT_MARGIN_FRACTION:g} × the robust SD of `{base}`'s trials"
           if default_margin else "set with `--margin`")
    if pd.isna(margin):
        m_text = (f"no equivalence test: `{base}`'s trials have no spread to set a margin "
                  "from (pass `--margin`)")
    else:
        m_text = f"equivalence margin ±{margin:.3g} ({how})"
    insufficient = names(INSUFFICIENT)
    return (f"Against `{base}` ({design} design, α = {alpha:g}, Holm-corrected over "
            f"{len(comp)} cells; {m_text}). Better: {names(BETTER)}; worse: {names(WORSE)}; "
            f"equivalent: {names(EQUIVALENT)}; inconclusive: {names(INCONCLUSIVE)}"
            + (f"; insufficient data: {insufficient}" if insufficient != "none" else "")
            + ". Differences are cell minus baseline."
            + (f" Greff's tuned comparison: {NOT_APPLICABLE} (too few trials)."
               if len(comp) and not comp["top_applies"].astype(bool).any() else ""))


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


def _methods(r: _Report, top_fraction: float, min_top: int, alpha: float, seed: int = 0,
             margin: float | None = None) -> None:
    from lstm_search.analysis._bootstrap import MAX_BOOT, MAX_EXACT_N, START_BOOT, TOLERANCE

    r.add("h2", "Methods")
    r.add("p", "The design decides the test. Cells trained at the same settings (a grid over "
               "fixed hyperparameter points, seeds; a setting is a row's `hp.setting`, else its "
               "hyperparameters and seed) are paired: each cell is compared with a baseline at "
               "the settings where both completed, with Wilcoxon's signed-rank test on the "
               "differences (exact: every sign pattern enumerated up to 16 pairs, mid-ranks for "
               "ties, zeros dropped), the paired t-test beside it, the sign count (better / "
               "worse / tied settings) and the median difference with a bootstrap interval over "
               "settings. Otherwise the trials are independent samples: Mann-Whitney U on all "
               "completed trials (exact by enumerating the splits while there are at most "
               "50,000), Welch's t-test beside it, the difference of medians with a bootstrap "
               "interval resampling each group. The rank test gives the verdict: at a ceiling "
               "(every trial of a cell at accuracy 1.0) a t statistic divides by a spread near "
               "zero and its p-value means nothing, while ranks still order the trials.")
    how = (f"±{margin:g}, set with `--margin`" if margin is not None else
           f"{DEFAULT_MARGIN_FRACTION:g} × the baseline's robust standard deviation "
           "(1.4826 × its median absolute deviation over completed trials, the plain standard "
           "deviation where that is 0), unless `--margin` sets it")
    r.add("p", f"Verdicts: \"better\" or \"worse\" when the rank test's Holm-corrected "
               f"p-value is below {alpha:g}, in the direction of the metric; otherwise "
               f"\"equivalent within ±m\" when two one-sided rank tests (TOST, Schuirmann "
               f"1987: the differences shifted by +m and by -m, Holm-corrected) both reject at "
               f"{alpha:g}; otherwise \"inconclusive\", never \"no difference\". The margin m "
               f"is {how}. Beside an inconclusive comparison: the minimum detectable effect "
               f"(MDE) of a two-sided t-test at {alpha:g} with 80% power at the observed robust "
               f"spread (1.4826 MAD of the differences, or of each group) and n, and the n "
               f"(settings, or trials per cell) that would detect an effect of m. p-values are "
               f"corrected with Holm's step-down method over the cells "
               f"compared with one baseline in one task, separately for each test. Differences "
               f"and effect sizes are cell minus baseline.")
    r.add("p", "Effect sizes: Cliff's delta P(cell > baseline) - P(cell < baseline) over all "
               "completed trials leads; Cohen's d (paired: d_z, the mean difference over its "
               "standard deviation) reads \"n/a: ceiling\" where a group has zero variance or "
               "more than half of its values tied at one value (a metric at its bound): there "
               "a d of 90 measures the bound, not the effect, and the t-test's p-value is as "
               "little to be trusted. Where the exact rank test cannot reach the level at all "
               "at this n (with 5 pairs its smallest two-sided p is 1/16, before Holm), the "
               "MDE column says so.")
    r.add("p", f"Bootstrap intervals (95%, percentile) are exact where the samples are small "
               f"(at most {MAX_EXACT_N} values per group: every distinct resample enumerated "
               f"with its multinomial probability, so no seed enters); larger samples draw "
               f"{START_BOOT:,} resamples, doubled (up to {MAX_BOOT:,}) until two independent "
               f"streams give endpoints within {TOLERANCE:g} × the data's standard deviation "
               f"(`n_boot` and `ci_settled` in `comparison.csv`). Seed: {seed}.")
    r.add("p", f"Tuned quality as in Greff et al. (2015, \"LSTM: A Search Space Odyssey\"): the "
               f"{top_fraction:.0%} of each cell's completed trials that are best on the "
               f"validation objective (at least {min_top}) compared on the test metric with "
               f"Welch's t-test; only where the selection keeps at least {GREFF_MIN_SELECTED} "
               f"of at least {GREFF_MIN_TRIALS} trials per cell (with fewer, \"the best 10%\" "
               f"is most or all of the trials), else \"{NOT_APPLICABLE}\". Selecting the best "
               "trials makes these samples order statistics rather than random draws, so read "
               "the t-test as a screening device, as in the paper. A summary's \"best\" is the "
               "test value of the trial best on validation, never the best test value.")
    r.add("p", "Runs of one task at different settings are analysed apart: the task options "
               "recorded with each trial (`task.gap`, `task.n_train` ...) that take more than "
               "one value for a task label its sections (`recall gap=50`), so no comparison, "
               "summary, figure or importance pools two settings. Replicate options "
               "(`data_seed`) are pooled. Runs whose recorded model or training settings "
               "(`run.json`) differ are labelled and analysed apart the same way "
               "(`recall train.epochs=3`). Accuracy against the lag shows, per cell and gap, the "
               f"mean and standard deviation of the best {top_fraction:.0%} trials by "
               f"validation objective (at least {min_top}).")
    r.add("p", "Hyperparameter importance is each hyperparameter's main effect on the "
               "validation objective, normalised so that the main effects sum to 1, estimated "
               "by fANOVA (Hutter et al. 2014) as implemented in Optuna (median and range over "
               "10 forest seeds, from the report's seed on), or by PED-ANOVA (Watanabe et al. "
               "2023) without scikit-learn. With fANOVA the variance decomposition also gives "
               "each main effect's and each pairwise interaction's share of the total variance, "
               "unnormalised (interactions over the first 3 forests: they cost far more). Where "
               f"the hyperparameters take fewer than {MIN_JOINT} distinct joint values the "
               "report warns that the ranking is not identified. Trials become an in-memory "
               "Optuna study with the distributions the rows record (`dist.*`; older rows: "
               "inferred from the values, log scale for learning rates and for positive values "
               "spread over a wide range; the report lists each scale and its source); "
               "log-scale hyperparameters enter both evaluators as log10 values (a momentum "
               "drawn log-uniform in 1 - m as log10(1 - m)), since Optuna's fANOVA would "
               "otherwise read them on a linear scale. A group (a cell, or all cells pooled) "
               "with fewer than 10 completed trials or whose trials all scored the same is "
               "skipped, and says so.")
