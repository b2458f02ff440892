"""``lstm-search check FILE.json``: validate a genome file and list every problem.

Exit status 0 for a valid genome (its name, genome_id and parameter count at the given sizes are
printed), 2 for a missing or unreadable file, malformed JSON or an invalid genome (one problem per
line: where, message, [rule]). Every problem is listed in one go: the file's structural ones
(unknown keys, fields of the wrong type) together with the genome's, local and graph-level
(:func:`lstm_search.genome.validate_json`).
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_SIZE = 128


def register(parser: argparse.ArgumentParser) -> None:
    from lstm_search.genome import DEFAULT_MAX_NODES

    parser.add_argument("file", metavar="FILE.json", help="genome JSON file")
    parser.add_argument("--input-size", type=int, default=DEFAULT_SIZE, metavar="M",
                        help=f"input width m for the parameter count (default {DEFAULT_SIZE})")
    parser.add_argument("--hidden-size", type=int, default=DEFAULT_SIZE, metavar="N",
                        help=f"hidden width n for the parameter count (default {DEFAULT_SIZE})")
    parser.add_argument("--max-nodes", type=int, default=DEFAULT_MAX_NODES, metavar="K",
                        help=f"node budget (default {DEFAULT_MAX_NODES})")
    parser.add_argument("--max-params", type=int, default=None, metavar="P",
                        help="parameter budget at the given sizes (default: none)")
    parser.add_argument("--spatial", type=int, nargs=2, default=(16, 16), metavar=("H", "W"),
                        help="map size of a spatial (convolutional) cell for the parameter "
                             "count (default 16 16); ignored for cells of vector values")


def run(args: argparse.Namespace) -> int:
    from lstm_search.genome import genome_id, n_params, validate_json

    for flag in ("input_size", "hidden_size", "max_nodes"):
        if getattr(args, flag) < 1:
            print(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}",
                  file=sys.stderr)
            return 2
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        print(f"{args.file}: cannot read: {e.strerror or e}{_hint(args.file)}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as e:
        print(f"{args.file}: not UTF-8 text: {e}", file=sys.stderr)
        return 2
    genome, problems = validate_json(text, max_nodes=args.max_nodes,
                                     input_size=args.input_size, hidden_size=args.hidden_size,
                                     max_params=args.max_params)
    if problems or genome is None:
        _report(args.file, problems)
        return 2
    spatial = (int(args.spatial[0]), int(args.spatial[1])) if genome.kernel else None
    count = n_params(genome, args.input_size, args.hidden_size, spatial)
    print(f"{args.file}: valid")
    from lstm_search.cli._show import printable

    print(f"name:       {printable(genome.name) or '(none)'}")
    print(f"genome_id:  {genome_id(genome)}")
    print(f"states:     {', '.join(genome.states)}; nodes: {len(genome.nodes)}")
    where = f", maps {spatial[0]}×{spatial[1]}" if spatial is not None else ""
    print(f"parameters: {count:,} at input size {args.input_size}, hidden size "
          f"{args.hidden_size}{where} (one layer)")
    return 0


def _hint(name: str) -> str:
    """For a name that is no file: what the user may have meant (a zoo cell, a missing
    ``.json``)."""
    from pathlib import Path

    from lstm_search import zoo

    if name in zoo.names(spatial=True):
        return (f"\n'{name}' is a zoo cell, not a file: `lstm-search show {name}` prints it; "
                f"`lstm-search show {name} --json > {name}.json` writes it as a file to check "
                "and edit")
    if not name.endswith(".json") and Path(f"{name}.json").is_file():
        return f"\ndid you mean {name}.json?"
    return ""


def _report(source: str, problems: list) -> None:
    print(f"{source}: invalid, {len(problems)} problem(s):")
    for p in problems:
        print(f"  {p}")
