"""The file table (``files.json``): expected size and sha256 of every known dataset file.

Values are those measured on ``shared/data`` (see its README); the upstream URLs are the files'
usual public homes, pinned to a commit where the host allows it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["FileEntry", "file_entries", "sha256_file", "verify_file"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    """One file of a dataset as the table records it."""

    dataset: str
    path: str  # relative to a data folder, "/"-separated, e.g. "ptb/ptb.train.txt"
    role: str  # "train" | "valid" | "test", or "all" for a music file holding every split
    size: int
    sha256: str
    url: str | None  # upstream home; None when the file is built locally (see derive_from)
    fetch: bool = True  # fetched by `download`; False: only verified by `check` when present
    derive_from: str | None = None  # path of the file this one is built from
    derive_rule: str | None = None  # name of the rule, e.g. "ptb_words_to_chars"
    home: str | None = None  # where the original lives when it is not fetched directly

    @property
    def basename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@functools.cache
def _load_table() -> dict[str, tuple[FileEntry, ...]]:
    text = resources.files("lstm_search.data").joinpath("files.json").read_text("utf-8")
    raw = json.loads(text)
    table: dict[str, tuple[FileEntry, ...]] = {}
    for dataset, files in raw["datasets"].items():
        entries = []
        for f in files:
            derive = f.get("derive") or {}
            entries.append(
                FileEntry(
                    dataset=dataset,
                    path=f["path"],
                    role=f["role"],
                    size=int(f["size"]),
                    sha256=f["sha256"].lower(),
                    url=f.get("url"),
                    fetch=bool(f.get("fetch", True)),
                    derive_from=derive.get("from"),
                    derive_rule=derive.get("rule"),
                    home=f.get("home"),
                )
            )
        table[dataset] = tuple(entries)
    return table


def file_entries(dataset: str | None = None) -> tuple[FileEntry, ...]:
    """Entries of ``dataset`` (all datasets when None); ``KeyError`` naming known ones."""
    table = _load_table()
    if dataset is None:
        return tuple(e for entries in table.values() for e in entries)
    try:
        return table[dataset]
    except KeyError:
        raise KeyError(f"no file table for dataset {dataset!r}; known: {sorted(table)}") from None


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: str | Path, entry: FileEntry) -> str | None:
    """None if ``path`` has the entry's size and sha256, else a one-line description of the
    difference (size is compared first: cheap, and it names truncation plainly)."""
    path = Path(path)
    size = path.stat().st_size
    if size != entry.size:
        return f"{path}: {size:,} bytes, expected {entry.size:,} (truncated or a different file)"
    digest = sha256_file(path)
    if digest != entry.sha256:
        return f"{path}: sha256 {digest}, expected {entry.sha256}"
    return None
