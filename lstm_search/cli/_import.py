"""``lstm-search import nasbench|darts SOURCE --out DIR``: cells from other work as genome files.

``nasbench``: NAS-Bench-NLP recipes (a recipe file, the benchmark's list of recipes, a training
log or a folder of logs) become one genome JSON file each plus ``manifest.json``
(:func:`lstm_search.genome.import_recipes`). Exit status 0 when every recipe imported, 2 when
a file could not be read or a recipe was refused (each listed with every problem; the others
are still written).

``darts``: a DARTS recurrent genotype, ``"Genotype(recurrent=[...], concat=range(1, 9))"``
given as text or as a file holding it (read, never evaluated), becomes ``DIR/<name>.json``
(:func:`lstm_search.genome.import_darts`; ``--dropout-x``/``--dropout-h`` add DARTS' in-cell
variational dropout, genome format 2); exit status 2 with every problem otherwise.
"""

from __future__ import annotations

import argparse
import sys


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=["nasbench", "darts"], help="format of the source")
    parser.add_argument("source", metavar="SOURCE",
                        help="nasbench: a JSON file or a folder of them; darts: the genotype "
                             "text or a file holding it")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder for the genome files (and nasbench's manifest.json)")
    parser.add_argument("--name", default="darts", help="darts: the genome's name and file "
                        "name (default: darts)")
    parser.add_argument("--dropout-x", type=float, default=0.0, metavar="P",
                        help="darts: DARTS' dropoutx, its in-cell variational dropout of x "
                             "while training (default 0: none; DARTS' PTB model uses 0.75)")
    parser.add_argument("--dropout-h", type=float, default=0.0, metavar="P",
                        help="darts: DARTS' dropouth, of h and every node's input (default "
                             "0: none; DARTS' PTB model uses 0.25)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lstm_search.genome import import_recipes

    if args.kind == "darts":
        return _darts(args)
    if not Path(args.source).exists():
        print(f"lstm-search import: error: {args.source}: no such file or folder",
              file=sys.stderr)
        return 2
    report = import_recipes(args.source, args.out)
    for line in [*report.unreadable, *report.refused]:
        print(line, file=sys.stderr)
    total = len(report.rows) + len(report.refused)
    print(f"imported {len(report.rows)} of {total} recipe(s) into {args.out}"
          + (f"; {len(report.refused)} refused" if report.refused else "")
          + (f"; {len(report.unreadable)} file(s) unreadable" if report.unreadable else ""))
    return 2 if report.refused or report.unreadable else 0


def _darts(args: argparse.Namespace) -> int:
    import re
    from pathlib import Path

    from lstm_search.genome import GenomeError, genome_id, import_darts

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", args.name):
        print(f"lstm-search import: error: --name {args.name!r}: must be an identifier (it "
              "names the file)", file=sys.stderr)
        return 2
    text = args.source
    if not text.lstrip().startswith(("Genotype", "{")):
        try:
            text = Path(args.source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            print(f"{args.source}: neither a genotype nor a readable file ({e})", file=sys.stderr)
            return 2
    try:
        g = import_darts(text, name=args.name, dropout_x=args.dropout_x,
                         dropout_h=args.dropout_h)
    except GenomeError as e:
        print(e, file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(g.to_json() + "\n", encoding="utf-8")
    print(f"wrote {out / (args.name + '.json')} (genome_id {genome_id(g)})")
    return 0
