"""``lstm-search runs [DIR]``: the runs under a results folder (default ``./results``): their
experiment, name, start time, trials by status, best validation objective and path."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", default="results", metavar="DIR",
                        help="results folder (default: ./results), or one run folder")


def run(args: argparse.Namespace) -> int:
    from lstm_search.analysis.runs import find_runs, format_runs

    root = Path(args.dir)
    if not root.is_dir():
        print(f"lstm-search runs: no results folder {root} (lstm-search run EXPERIMENT writes "
              "one; --out chooses where)", file=sys.stderr)
        return 2 if args.dir != "results" else 0
    runs = find_runs(root)
    if not runs:
        print(f"no runs under {root}")
        return 0
    print(format_runs(runs))
    return 0
