"""Where a report goes: the default folder inside the run, the refusal to write into a folder
that holds something else, and the removal of an earlier report's files before a new one.

A folder is an earlier report when it holds ``report.md`` (what :func:`write_report` always
writes); its figures and CSV tables are removed before the new report is written, so that no
figure of the earlier one stays behind beside the new ``report.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from lstm_search.analysis._table import AnalysisError

__all__ = ["REPORT_DIR", "default_report_dir", "prepare_report_dir"]

REPORT_DIR = "report"
_MARK = "report.md"
_REPORT_FILES = ("report.md", "report.html")


def default_report_dir(paths: Sequence[str | os.PathLike[str]]) -> Path:
    """``RUN/report`` for one results folder (``trials.jsonl``'s folder for a file); with
    several paths there is no single run, and ``--out`` must be given."""
    if len(paths) != 1:
        raise AnalysisError(f"{len(paths)} results paths: say where the report goes with "
                            "--out DIR (the default, RUN/report, is for one results folder)")
    path = Path(paths[0])
    return (path if path.is_dir() else path.parent) / REPORT_DIR


def is_report_dir(out: Path) -> bool:
    """``out`` holds an earlier report (its ``report.md``)."""
    return (out / _MARK).is_file()


def prepare_report_dir(out: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Make ``out`` ready for a report: created if absent; an earlier report's files (report
    files, ``*.csv``, ``figures/*.png``) removed; any other non-empty folder refused unless
    ``force`` (then nothing is removed but the files a report writes are replaced).

    Raises:
        AnalysisError: ``out`` is a file, or a non-empty folder that is not a report.
    """
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise AnalysisError(f"--out {folder}: is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not is_report_dir(folder):
        if not force:
            raise AnalysisError(
                f"--out {folder}: the folder is not empty and holds no earlier report "
                f"(no {_MARK}); choose an empty or new folder, or pass --force to write "
                "into it anyway")
        return folder
    if is_report_dir(folder):
        stale = [*(folder / n for n in _REPORT_FILES), *folder.glob("*.csv"),
                 *(folder / "figures").glob("*.png")]
        for path in stale:
            if path.is_file():
                path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
