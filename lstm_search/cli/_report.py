"""``lstm-search report RESULTS_DIR... [--baseline lstm,gru] [--metric NAME] [--out DIR]``:
analyse result tables and write report.md, report.html and CSV tables (``trials.csv``: every
trial) into ``RESULTS_DIR/report`` or ``--out``.

Exit status 2 for a path that does not exist, a folder without trials, a ``--baseline`` that
names no cell of the table, an unknown ``--metric``, or an ``--out`` folder that holds something
other than an earlier report (``--force`` writes there anyway)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="RESULTS_DIR",
                        help="results folders (or trials.jsonl files); searched recursively")
    parser.add_argument("--baseline", default=None,
                        help="comma-separated cells to compare against (default: lstm,gru, "
                             "those of them in the table); a name not in the table is an error")
    parser.add_argument("--metric", default=None,
                        help="column to compare, e.g. test.nll (default: the test metric of "
                             "the objective, per task)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: RESULTS_DIR/report for one results "
                             "folder); an earlier report there is replaced")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty --out folder that holds no earlier report")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level after Holm correction (default 0.05)")
    parser.add_argument("--top-fraction", type=float, default=0.1,
                        help="share of best trials by validation score (Greff: 0.1)")
    parser.add_argument("--min-top", type=int, default=5,
                        help="at least this many best trials per cell (default 5)")
    parser.add_argument("--importance", choices=("auto", "fanova", "ped-anova"), default="auto",
                        help="importance method (auto: fANOVA if scikit-learn is installed)")
    parser.add_argument("--gap-column", default="task.gap",
                        help="lag column of long-lag recall tasks (default task.gap; tables "
                             "with the gap as a hyperparameter, hp.gap, are read too)")
    parser.add_argument("--seed", type=int, default=0, help="seed of bootstrap and fANOVA")
    parser.add_argument("--margin", type=float, default=None,
                        help="equivalence margin in metric units (default: 0.25 x the robust "
                             "SD of each baseline's trials)")


def run(args: argparse.Namespace) -> int:
    from lstm_search.analysis import (
        AnalysisError,
        default_report_dir,
        metric_columns,
        prepare_report_dir,
        write_report,
    )
    from lstm_search.results import load_curves, load_results

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        for p in missing:
            print(f"lstm-search report: error: results path does not exist: {p} "
                  "(`lstm-search runs` lists the runs under ./results)", file=sys.stderr)
        return 2
    if len(args.paths) == 1 and (Path(args.paths[0]) / "suite.json").is_file():
        return _suite_report(args)
    baselines = [b.strip() for b in (args.baseline or "lstm,gru").split(",") if b.strip()]
    if not baselines:
        print("lstm-search report: --baseline needs at least one cell name", file=sys.stderr)
        return 2
    if not 0 < args.top_fraction <= 1 or not 0 < args.alpha < 1 or args.min_top < 1:
        print("lstm-search report: --top-fraction must be in (0, 1], --alpha in (0, 1) and "
              "--min-top at least 1", file=sys.stderr)
        return 2
    if args.margin is not None and not args.margin > 0:
        print("lstm-search report: --margin must be a positive number", file=sys.stderr)
        return 2
    with warnings.catch_warnings(record=True) as caught:  # one plain line per problem
        warnings.simplefilter("always")
        df = load_results(*args.paths)
        curves = load_curves(*args.paths)
    for w in caught:
        print(f"lstm-search report: warning: {w.message}", file=sys.stderr)
    if df.empty:
        print(f"lstm-search report: error: no trials found under {', '.join(args.paths)} (no "
              "trials.jsonl rows); run a search first (lstm-search run ...) or give its "
              "results folder (lstm-search runs lists them)", file=sys.stderr)
        return 2
    unknown = [b for b in baselines if b not in set(df["cell"].astype(str))]
    if args.baseline is not None and unknown:
        print(f"lstm-search report: error: --baseline {', '.join(unknown)}: not a cell in the "
              f"table; the cells are: {', '.join(sorted(set(df['cell'].astype(str))))}",
              file=sys.stderr)
        return 2
    if args.metric and len(df) and args.metric not in df.columns:
        print(f"lstm-search report: metric {args.metric!r} is not in the results table; "
              f"available: {', '.join(metric_columns(df)) or '(none)'}", file=sys.stderr)
        return 2
    try:
        out = args.out if args.out is not None else default_report_dir(args.paths)
        out = prepare_report_dir(out, force=args.force)
        files = write_report(df, out, curves=curves, baselines=baselines,
                             metric=args.metric, top_fraction=args.top_fraction,
                             min_top=args.min_top, alpha=args.alpha, seed=args.seed,
                             importance_method=args.importance, gap_column=args.gap_column,
                             sources=list(args.paths), margin=args.margin)
    except (AnalysisError, OSError) as e:
        print(f"lstm-search report: {e}", file=sys.stderr)
        return 2
    print(f"wrote {files.html}")
    print(f"wrote {files.markdown}")
    for path in files.tables.values():
        print(f"wrote {path}")
    for note in files.notes:
        print(f"note: {note}")
    return 0


def _suite_report(args: argparse.Namespace) -> int:
    """``lstm-search report SUITE_RUN``: each part's report with its own baselines, and the
    suite's summary."""
    from lstm_search.analysis import AnalysisError, write_suite_report

    if args.baseline is not None or args.metric is not None:
        print("lstm-search report: error: a suite run compares each part with the baselines "
              "its suite names, on the part's own metric: --baseline and --metric do not "
              "apply (report one part's folder to choose them)", file=sys.stderr)
        return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            files = write_suite_report(
                args.paths[0], args.out, force=args.force, top_fraction=args.top_fraction,
                min_top=args.min_top, alpha=args.alpha, seed=args.seed,
                importance_method=args.importance, gap_column=args.gap_column,
                margin=args.margin)
        except (AnalysisError, OSError) as e:
            print(f"lstm-search report: {e}", file=sys.stderr)
            return 2
    for w in caught:
        print(f"lstm-search report: warning: {w.message}", file=sys.stderr)
    for name, part in files.parts.items():
        print(f"wrote {part.html}   ({name})")
    print(f"wrote {files.html}")
    print(f"wrote {files.markdown}")
    print(f"wrote {files.table}")
    for note in files.notes:
        print(f"note: {note}")
    return 0
