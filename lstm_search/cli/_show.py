"""``lstm-search show CELL|FILE.json``: print a cell as equations or JSON, its generated code,
its Graphviz source, or draw it to a PNG.

CELL is a zoo name (``lstm-search show gru``); anything ending in ``.json`` or naming an
existing file is read as a genome file.

Output cut short by the reader (``lstm-search show lstm --code | head``) ends the command quietly
with status 0: no ``BrokenPipeError`` traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cell", metavar="CELL|FILE.json", help="a zoo name or a genome file")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--json", action="store_true", help="print the genome JSON")
    what.add_argument("--code", action="store_true",
                      help="print the source the compiler generates for the cell")
    what.add_argument("--dot", action="store_true", help="print Graphviz source")
    what.add_argument("--png", metavar="OUT.png", help="draw the cell to a PNG file")
    parser.add_argument("--backend", default="script",
                        help="compiler backend for --code: script, eager, compile, native "
                             "(the C++ of the native backend) or native-cuda (its CUDA C++); "
                             "default: script")
    parser.add_argument("--input-size", type=int, default=128, metavar="M",
                        help="input width for --code and the parameter count (default 128)")
    parser.add_argument("--hidden-size", type=int, default=128, metavar="N",
                        help="hidden width for --code and the parameter count (default 128)")
    parser.add_argument("--spatial", type=int, nargs=2, default=(16, 16), metavar=("H", "W"),
                        help="map size of a spatial (convolutional) cell for the parameter "
                             "count (default 16 16); ignored for cells of vector values")
    parser.add_argument("--title", default=None, help="title of the --png drawing")


def load_cell(spec: str):
    """A zoo cell by name, or a genome file; raises KeyError / OSError / GenomeError."""
    from lstm_search import zoo
    from lstm_search.genome import Genome

    if spec.endswith(".json") or Path(spec).is_file():
        return Genome.load(spec)
    return zoo.get(spec)


def run(args: argparse.Namespace) -> int:
    try:
        status = _run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        _silence_stdout()
        return 0
    return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush of what is still
    buffered does not raise again on the closed pipe."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (captured in tests)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def printable(text: str) -> str:
    """``text`` with control characters but line breaks and tabs written as escapes
    (``\\x1b``): names from a genome file never reach the terminal as escape sequences."""
    return "".join(ch if ch in "\n\t" or not (ord(ch) < 32 or 127 <= ord(ch) < 160)
                   else ascii(ch)[1:-1] for ch in text)


def _run(args: argparse.Namespace) -> int:
    from lstm_search.genome import GenomeError, genome_id, n_params, validate
    from lstm_search.genome.draw import to_dot, to_equations

    try:
        genome = load_cell(args.cell)
    except KeyError as e:
        print(f"lstm-search show: error: {e.args[0] if e.args else str(e)}",
              file=sys.stderr)
        return 2
    except OSError as e:
        print(f"lstm-search show: error: {args.cell}: cannot read: {e.strerror or e}",
              file=sys.stderr)
        return 2
    except GenomeError as e:
        print(f"lstm-search show: error: {e}",
              file=sys.stderr)
        return 2
    problems = validate(genome)
    if problems and not (args.json or args.dot):
        print(f"{args.cell}: invalid, {len(problems)} problem(s) "
              "(`lstm-search check` lists them; --json and --dot still work):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 2
    if args.json:
        print(genome.to_json())
    elif args.dot:
        print(printable(to_dot(genome)), end="")
    elif args.png:
        from lstm_search.analysis.cell_png import draw_png

        folder = Path(args.png).parent
        if not folder.is_dir():
            print(f"lstm-search show: error: --png {args.png}: the folder {folder} does not "
                  f"exist (create it first: mkdir -p {folder})", file=sys.stderr)
            return 2
        try:
            out = draw_png(genome, args.png, title=args.title)
        except OSError as e:
            print(f"lstm-search show: error: --png {args.png}: cannot write: "
                  f"{e.strerror or e}", file=sys.stderr)
            return 2
        print(f"wrote {out}")
    elif args.code:
        try:
            from lstm_search.compile import generated_source
        except ImportError as e:
            print(f"--code needs the compiler (lstm_search.compile), which is not available: "
                  f"{e}", file=sys.stderr)
            return 2
        try:
            print(generated_source(genome, backend=args.backend, input_size=args.input_size,
                                   hidden_size=args.hidden_size,
                                   spatial=tuple(args.spatial) if genome.kernel else None))
        except ValueError as e:  # unknown backend
            print(f"lstm-search show: error: {e}",
                  file=sys.stderr)
            return 2
    else:
        print(printable(to_equations(genome)))
        spatial = (int(args.spatial[0]), int(args.spatial[1])) if genome.kernel else None
        where = (f", maps {spatial[0]}×{spatial[1]} (channels as sizes)"
                 if spatial is not None else "")
        print(f"# genome_id {genome_id(genome)}; "
              f"{n_params(genome, args.input_size, args.hidden_size, spatial):,} parameters at "
              f"input size {args.input_size}, hidden size {args.hidden_size}{where}")
        try:
            from lstm_search.compile import build_plan
        except ImportError:  # the compiler is optional here: the equations stand alone
            return 0
        plan = build_plan(genome, args.input_size, args.hidden_size, spatial)
        print(f"# path: {plan.path}")
    return 0
