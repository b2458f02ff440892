"""The ``lstm-search`` command line: a thin dispatcher.

Each subcommand lives in its own module ``lstm_search.cli._<name>`` exposing ``register(sub)``
(adds its argparse parser) and ``run(args) -> int``. Modules are imported only when their
command runs, so ``lstm-search check`` never imports ray or optuna.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("lstm_search.cli._check", "validate a genome JSON file"),
    "show": ("lstm_search.cli._show", "print, draw or show the generated code of a cell"),
    "bench": ("lstm_search.cli._bench", "time compiled cells against torch.nn.LSTM / GRU"),
    "data": ("lstm_search.cli._data", "download or verify the standard corpora"),
    "train": ("lstm_search.cli._train", "train one cell on one task"),
    "run": ("lstm_search.cli._run", "run an experiment (search) with Optuna or Ray Tune"),
    "runs": ("lstm_search.cli._runs", "list the runs under a results folder"),
    "report": ("lstm_search.cli._report", "analyse result tables and write a report"),
    "export": ("lstm_search.cli._export", "write a cell as a standalone PyTorch module"),
    "import": ("lstm_search.cli._import", "import NAS-Bench-NLP recipes or DARTS genotypes"),
}


def build_parser() -> argparse.ArgumentParser:
    from lstm_search import __version__

    parser = argparse.ArgumentParser(
        prog="lstm-search", description="Find and compare recurrent cells."
    )
    parser.add_argument("--version", action="version", version=f"lstm-search {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.set_defaults(_module=module)
    return parser


def parse(argv: Sequence[str]) -> tuple[ModuleType, argparse.Namespace]:
    """The command's module and its parsed arguments (``argv`` without the program name);
    argparse's ``SystemExit`` (status 2 with a message) for a bad command line."""
    argv = list(argv)
    if not argv or argv[0] not in COMMANDS:
        parser = build_parser()
        args = parser.parse_args(argv)  # prints help / version / error
        if args.command is None:
            parser.print_help()
            raise SystemExit(2)
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    sub_parser = argparse.ArgumentParser(prog=f"lstm-search {name}", description=COMMANDS[name][1])
    module.register(sub_parser)
    return module, sub_parser.parse_args(argv[1:])


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        build_parser().print_help()
        return 2
    module, args = parse(argv)
    return int(module.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
