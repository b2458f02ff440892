"""Fetch dataset files from their public homes (or a mirror), verified by sha256.

Each file is streamed into a hidden temporary file in its destination folder
(``.<name>.<random>.part``), hashed on the way, and renamed onto its final name only when its
size and sha256 match the file table (:mod:`lstm_search.data.checksums`). Any failure (HTTP
error, connection closed early, wrong size, wrong checksum, Ctrl-C) removes the temporary file,
so a destination never holds a half-written dataset file.

Mirrors: ``url_base`` (or the environment variable ``LSTM_SEARCH_DATA_MIRROR``) replaces every
upstream URL by ``<url_base>/<path in the table>``; a copy of a data folder served over HTTP
(``python -m http.server`` in ``shared/data``) is therefore a mirror.

Character-level PTB is not fetched: it is built from the word-level files by Mikolov's rule
(:func:`lstm_search.data.text.ptb_words_to_chars`), which reproduces his files byte for byte,
and verified against the table like a download.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from lstm_search.data._errors import ChecksumError, DataError, DownloadError
from lstm_search.data.checksums import FileEntry, file_entries, verify_file
from lstm_search.data.text import ptb_words_to_chars

__all__ = ["MIRROR_ENV", "download", "entry_url"]

MIRROR_ENV = "LSTM_SEARCH_DATA_MIRROR"
_CHUNK = 1 << 16
_SCHEMES = ("http", "https", "file")
_USER_AGENT = "lstm-search-data/1 (python urllib)"

Log = Callable[[str], None]


def entry_url(entry: FileEntry, url_base: str | None = None) -> str | None:
    """The URL ``entry`` is fetched from: ``<url_base>/<path>`` with a mirror, else upstream."""
    if url_base:
        return f"{url_base.rstrip('/')}/{urllib.parse.quote(entry.path)}"
    return entry.url


def _entry_by_path(path: str) -> FileEntry:
    for e in file_entries():
        if e.path == path:
            return e
    raise DataError(f"file table: no entry for {path!r}")  # pragma: no cover - table is fixed


def _tmp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")


def _open_tmp(target: Path) -> tuple[Path, int]:
    # O_EXCL: never reuse a file; mode 0o666 lets the umask decide as for any new file
    tmp = _tmp_path(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    return tmp, fd


def _mkdirs(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; return the ones created (deepest last)."""
    created: list[Path] = []
    for p in reversed([folder, *folder.parents]):
        if not p.exists():
            try:
                p.mkdir()
            except FileExistsError:  # made meanwhile by someone else: not ours to remove
                continue
            created.append(p)
    return created


def _remove_empty(created: list[Path]) -> None:
    for p in reversed(created):
        try:
            p.rmdir()
        except OSError:
            break  # not empty (another file landed there): keep it and its parents


def _fetch(entry: FileEntry, url: str, target: Path, *, progress: bool, timeout: float) -> None:
    from tqdm import tqdm

    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise DownloadError(f"{entry.dataset}: {url}: unsupported URL scheme {scheme!r}")
    where = f"{entry.dataset} {entry.path} from {url}"
    created = _mkdirs(target.parent)
    tmp, fd = _open_tmp(target)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
            try:
                response = urllib.request.urlopen(request, timeout=timeout)
            except urllib.error.HTTPError as e:
                raise DownloadError(f"{where}: HTTP {e.code} {e.reason}") from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise DownloadError(f"{where}: cannot connect ({reason})") from None
            with response:
                announced = response.headers.get("Content-Length")
                if announced is not None and announced.isdigit() and int(announced) != entry.size:
                    raise DownloadError(
                        f"{where}: the server announces {int(announced):,} bytes, the file "
                        f"table expects {entry.size:,} (a different version of the file?)"
                    )
                digest = hashlib.sha256()
                received = 0
                with tqdm(
                    total=entry.size,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=entry.path,
                    file=sys.stderr,
                    disable=not progress,
                    leave=False,
                ) as bar:
                    while True:
                        try:
                            chunk = response.read(_CHUNK)
                        except (http.client.HTTPException, OSError) as e:
                            raise DownloadError(
                                f"{where}: connection lost after {received:,} of "
                                f"{entry.size:,} bytes ({type(e).__name__}: {e})"
                            ) from None
                        if not chunk:
                            break
                        received += len(chunk)
                        if received > entry.size:
                            raise DownloadError(
                                f"{where}: more than the expected {entry.size:,} bytes received"
                            )
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
            if received != entry.size:
                raise DownloadError(
                    f"{where}: truncated: received {received:,} of {entry.size:,} bytes "
                    "(the server closed the connection early)"
                )
            if digest.hexdigest() != entry.sha256:
                raise ChecksumError(
                    f"{where}: sha256 {digest.hexdigest()} does not match the expected "
                    f"{entry.sha256}; the file was not saved"
                )
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)  # atomic on one file system: the name appears complete or not
    except BaseException:
        tmp.unlink(missing_ok=True)
        _remove_empty(created)
        raise


def _derive(entry: FileEntry, source: Path, target: Path) -> None:
    if entry.derive_rule != "ptb_words_to_chars":
        raise DataError(f"{entry.path}: unknown derivation rule {entry.derive_rule!r}")
    data = ptb_words_to_chars(source.read_text(encoding="utf-8")).encode("utf-8")
    if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
        raise ChecksumError(
            f"{entry.dataset} {entry.path}: built from {source} but the result does not match "
            "the file table (is the word-level file Mikolov's?); the file was not saved"
        )
    created = _mkdirs(target.parent)
    tmp, fd = _open_tmp(target)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        _remove_empty(created)
        raise


def _ensure(
    entry: FileEntry,
    dest: Path,
    *,
    url_base: str | None,
    progress: bool,
    timeout: float,
    force: bool,
    log: Log,
) -> Path:
    target = dest / entry.path
    if target.is_file() and not force:
        problem = verify_file(target, entry)
        if problem is None:
            log(f"ok       {target} (already present, checksum verified)")
            return target
        log(f"replace  {problem}")
    if entry.derive_from is not None:
        source = _ensure(
            _entry_by_path(entry.derive_from),
            dest,
            url_base=url_base,
            progress=progress,
            timeout=timeout,
            force=False,
            log=log,
        )
        _derive(entry, source, target)
        log(f"built    {target} from {source.name} (checksum verified)")
        return target
    url = entry_url(entry, url_base)
    if url is None:
        raise DataError(f"{entry.dataset} {entry.path}: no URL known for this file")
    _fetch(entry, url, target, progress=progress, timeout=timeout)
    log(f"fetched  {target} from {url} (checksum verified)")
    return target


def download(
    names: str | Iterable[str],
    dest: str | Path,
    *,
    url_base: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    force: bool = False,
    log: Log | None = None,
) -> list[Path]:
    """Fetch the files of dataset(s) ``names`` into ``dest`` in the framework's layout.

    Files already present with the right checksum are kept (``force`` fetches them again).
    ``url_base`` (default ``$LSTM_SEARCH_DATA_MIRROR``) replaces the upstream hosts. Returns
    the paths of the dataset files. Raises :class:`DownloadError` / :class:`ChecksumError`
    (both :class:`DataError`) naming the dataset, file and URL; nothing partial is left.
    """
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if url_base is None:
        url_base = os.environ.get(MIRROR_ENV) or None
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise DataError(f"destination {dest} exists and is not a folder")
    entries = []
    for name in names:
        try:
            entries.extend(e for e in file_entries(name) if e.fetch)
        except KeyError as e:
            raise DataError(str(e.args[0])) from None
    say: Log = log or (lambda _msg: None)
    return [
        _ensure(
            e, dest, url_base=url_base, progress=progress, timeout=timeout, force=force, log=say
        )
        for e in entries
    ]
