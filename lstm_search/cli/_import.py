"""``lstm-search import nasbench FILE|DIR --out DIR``: cells from other work as genome files.

NAS-Bench-NLP recipes (a recipe file, the benchmark's list of recipes, a training log or a
folder of logs) become one genome JSON file each plus ``manifest.json``
(:func:`lstm_search.genome.import_recipes`). Exit status 0 when every recipe imported, 2 when
a file could not be read or a recipe was refused (each listed with every problem; the others
are still written).
"""

from __future__ import annotations

import argparse
import sys


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=["nasbench"], help="format of the source")
    parser.add_argument("source", metavar="FILE|DIR", help="JSON file, or folder of them")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder for the genome files and manifest.json")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lstm_search.genome import import_recipes

    if not Path(args.source).exists():
        print(f"{args.source}: no such file or folder", file=sys.stderr)
        return 2
    report = import_recipes(args.source, args.out)
    for line in [*report.unreadable, *report.refused]:
        print(line, file=sys.stderr)
    total = len(report.rows) + len(report.refused)
    print(f"imported {len(report.rows)} of {total} recipe(s) into {args.out}"
          + (f"; {len(report.refused)} refused" if report.refused else "")
          + (f"; {len(report.unreadable)} file(s) unreadable" if report.unreadable else ""))
    return 2 if report.refused or report.unreadable else 0
