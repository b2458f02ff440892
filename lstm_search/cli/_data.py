"""``lstm-search data``: list, download or verify the standard corpora.

Usage::

    lstm-search data list
    lstm-search data download NAME [NAME ...] [--to DIR] [--url-base URL] [--force] [--quiet]
    lstm-search data check [DIR [NAME ...]] [--data-dir DIR]

``--data-dir DIR`` is accepted as elsewhere (for ``--to DIR``, or for check's DIR). DIR
defaults to the data-path rule's folder: ``$LSTM_SEARCH_DATA``, else ``./data``.
"""

from __future__ import annotations

import argparse
import sys


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    sub.add_parser("list", help="list the known datasets and where their files come from")

    p = sub.add_parser("download", help="fetch dataset files, verified by sha256")
    p.add_argument("names", nargs="+", metavar="NAME", help="dataset name(s), or 'all'")
    p.add_argument("--to", "--data-dir", dest="to", default=None, metavar="DIR",
                   help="destination data folder (default: $LSTM_SEARCH_DATA, else ./data)")
    p.add_argument(
        "--url-base",
        metavar="URL",
        default=None,
        help="mirror serving <URL>/<path> (default: $LSTM_SEARCH_DATA_MIRROR, else upstream)",
    )
    p.add_argument("--force", action="store_true", help="fetch again files already present")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per network read")

    p = sub.add_parser("check", help="verify a data folder's files (presence, size, sha256)")
    p.add_argument("dir", nargs="?", default=None, metavar="DIR",
                   help="data folder (default: $LSTM_SEARCH_DATA, else ./data)")
    p.add_argument("names", nargs="*", metavar="NAME", help="datasets to require (default: found)")
    p.add_argument("--data-dir", dest="data_dir", default=None, metavar="DIR",
                   help="data folder, as the other commands take it (instead of DIR)")


class _UnknownDataset(ValueError):
    """A dataset name the registry does not know (bad input: exit 2)."""


def _names(names: list[str]) -> list[str]:
    import difflib

    from lstm_search.data import dataset_names

    known = dataset_names()
    if names == ["all"]:
        return known
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise _UnknownDataset(f"unknown dataset {name!r}; {hint}known: {', '.join(known)} "
                                  "(or all)")
    return names


def _list() -> int:
    from lstm_search.data import DATASETS, file_entries

    for name, spec in DATASETS.items():
        print(f"{name:<11} {spec.kind:<6} {spec.title} [{spec.citation}]")
        for e in file_entries(name):
            if e.url:
                source = e.url
            elif e.derive_from:
                source = f"built from {e.derive_from}"
                if e.home:
                    source += f" (original: {e.home})"
            else:
                source = "converted locally; verified by check only"
            note = "" if e.fetch else " (not fetched by download)"
            print(f"    {e.path:<34} {e.size:>10,} B  {source}{note}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from lstm_search.data import DataError, download, resolve_data_dir

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    try:
        names = _names(args.names)
    except _UnknownDataset as e:
        print(f"lstm-search data download: error: {e}", file=sys.stderr)
        return 2
    try:
        download(
            names,
            resolve_data_dir(args.to),
            url_base=args.url_base,
            progress=not args.quiet,
            timeout=args.timeout,
            force=args.force,
            log=log,
        )
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _check(args: argparse.Namespace) -> int:
    from lstm_search.data import check_data_dir, resolve_data_dir

    folder, names = args.dir, args.names
    if args.data_dir is not None:  # then every positional word is a dataset name
        folder, names = args.data_dir, [*([args.dir] if args.dir else []), *names]
    try:
        wanted = _names(names) or None
    except _UnknownDataset as e:
        print(f"lstm-search data check: error: {e}", file=sys.stderr)
        return 2
    report = check_data_dir(resolve_data_dir(folder), wanted)
    for line in report.ok:
        print(f"ok       {line}")
    for line in report.problems:
        print(f"PROBLEM  {line}")
    if report.problems:
        print(f"{len(report.problems)} problem(s) in {report.data_dir}; a missing dataset is "
              f"fetched with: lstm-search data download NAME --to {report.data_dir}",
              file=sys.stderr)
        return 1
    print(f"all good: {', '.join(report.datasets)} in {report.data_dir}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list()
    if args.action == "download":
        return _download(args)
    return _check(args)
