"""Verify a data folder: every dataset file present where the loaders look, with the right
size and sha256.

Used by ``lstm-search data check DIR [NAME ...]``; with no names, every dataset that has at
least one file in the folder is checked (a dataset half present is a problem: a split missing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lstm_search.data._errors import DataError
from lstm_search.data.checksums import FileEntry, file_entries, verify_file
from lstm_search.data.music import read_music_file
from lstm_search.data.registry import DATASETS, search

__all__ = ["CheckReport", "check_data_dir"]


@dataclass
class CheckReport:
    """Lines describing files found good (``ok``) and everything wrong (``problems``)."""

    data_dir: Path
    datasets: list[str] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _present(name: str, root: Path) -> bool:
    rels = [r for rs in DATASETS[name].candidates.values() for r in rs]
    rels += [e.path for e in file_entries(name)] + [e.basename for e in file_entries(name)]
    return any((root / r).is_file() for r in rels)


def _expected(name: str, role: str, path: Path) -> FileEntry | None:
    entries = file_entries(name)
    if role == "all":  # music: the entry of the same file name, if the table knows it
        return next((e for e in entries if e.basename == path.name), None)
    return next((e for e in entries if e.role == role), None)


def _check_one(name: str, root: Path, report: CheckReport) -> None:
    checked: set[Path] = set()
    found, missing = search(name, root)
    for role, tried in missing.items():
        what = "all splits" if role == "all" else f"split {role!r}"
        rels = ", ".join(str(p.relative_to(root)) for p in tried[:4])
        more = ", ..." if len(tried) > 4 else ""
        report.problems.append(
            f"{name}: no file for {what} (looked for {rels}{more}); "
            f"get it with: lstm-search data download {name} --to {root}"
        )
    for role, path in found.items():
        checked.add(path.resolve())
        entry = _expected(name, role, path)
        label = f"{name} {role}"
        if entry is None:
            # no checksum known (e.g. an original Boulanger-Lewandowski pickle): read it instead
            try:
                corpus = read_music_file(path, name=name)
            except DataError as e:
                report.problems.append(f"{label}: {e}")
            else:
                report.ok.append(f"{label}: {path} (no checksum known; read {corpus!r})")
            continue
        problem = verify_file(path, entry)
        if problem:
            report.problems.append(f"{label}: {problem}")
        else:
            report.ok.append(f"{label}: {path}")
    # other known files of this dataset lying in the folder (e.g. the JSON beside the .mat)
    for entry in file_entries(name):
        for path in (root / entry.path, root / entry.basename):
            if path.is_file() and path.resolve() not in checked:
                checked.add(path.resolve())
                problem = verify_file(path, entry)
                if problem:
                    report.problems.append(f"{name} {entry.role}: {problem}")
                else:
                    report.ok.append(f"{name} {entry.role}: {path}")


def check_data_dir(data_dir: str | Path, names: Iterable[str] | None = None) -> CheckReport:
    """Check dataset files under ``data_dir``; ``names`` None means every dataset found there."""
    root = Path(data_dir).expanduser()
    report = CheckReport(data_dir=root)
    if not root.is_dir():
        report.problems.append(f"{root}: no such folder")
        return report
    if names is None:
        report.datasets = [n for n in DATASETS if _present(n, root)]
        if not report.datasets:
            report.problems.append(
                f"{root}: no file of any known dataset ({', '.join(DATASETS)}) found"
            )
    else:
        report.datasets = list(names)
        unknown = [n for n in report.datasets if n not in DATASETS]
        if unknown:
            report.problems.append(f"unknown dataset(s) {unknown}; known: {', '.join(DATASETS)}")
            report.datasets = [n for n in report.datasets if n in DATASETS]
    for name in report.datasets:
        _check_one(name, root, report)
    return report
