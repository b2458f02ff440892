"""``lstm-search export CELL|FILE.json --torch [-o FILE]``: a cell as a standalone PyTorch file.

Writes (to standard output, or ``-o FILE``) a readable ``nn.Module`` file that imports only
torch: the cell's equations in its docstring, ``Cell`` (one step) and ``Layer`` (the loop over
time); see :func:`lstm_search.nn.export_torch`. Exit status 2 for an unknown cell, an unreadable
file or an invalid genome.
"""

from __future__ import annotations

import argparse
import sys


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cell", metavar="CELL|FILE.json", help="a zoo name or a genome file")
    parser.add_argument("--torch", action="store_true", required=True,
                        help="write a standalone PyTorch module (the one export format)")
    parser.add_argument("-o", "--output", metavar="FILE", default=None,
                        help="write here instead of standard output")


def run(args: argparse.Namespace) -> int:
    from lstm_search.cli._show import load_cell
    from lstm_search.nn import export_torch

    try:
        genome = load_cell(args.cell)
        src = export_torch(genome)
    except KeyError as e:
        print(f"lstm-search export: error: {e.args[0] if e.args else e}",
              file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as e:
        print(f"lstm-search export: error: {args.cell}: cannot read: {e}",
              file=sys.stderr)
        return 2
    except ValueError as e:  # GenomeError, or a format-2 cell the exporter does not write
        print(f"lstm-search export: error: {e}",
              file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(src)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(src)
    except OSError as e:
        print(f"lstm-search export: error: {args.output}: cannot write: {e.strerror or e}",
              file=sys.stderr)
        return 2
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
