"""Downloads through a real HTTP server on 127.0.0.1 serving a mirror folder; folder checks.

The mirror is a temporary folder laid out like a data folder, holding links to a few small
files of ../shared/data (or corrupted copies of them)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lstm_search.cli import main as cli_main
from lstm_search.data import (
    ChecksumError,
    DataError,
    DownloadError,
    check_data_dir,
    download,
    file_entries,
    load_dataset,
)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the mirror folder; paths under /truncated/ send a full Content-Length but only
    half of the body, then close the connection; every requested path is recorded."""

    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if self.path.startswith("/truncated/"):
            body = (Path(self.directory) / self.path.removeprefix("/truncated/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


class Mirror:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        handler = type("Handler", (_Handler,), {"requests": self.requests})
        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
        )
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def add(self, rel: str, source: Path) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(source)
        return path


@pytest.fixture
def mirror(tmp_path: Path, shared_data: Path) -> Iterator[Mirror]:
    m = Mirror(tmp_path / "mirror")
    m.root.mkdir()
    for e in file_entries("jsb") + file_entries("piano_midi") + file_entries("ptb"):
        m.add(e.path, shared_data / e.path)
    m.thread.start()
    yield m
    m.server.shutdown()
    m.server.server_close()


def _files(folder: Path) -> list[str]:
    """Every file under folder (hidden temporary files included), relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_download_through_mirror_then_load_and_check(
    mirror: Mirror, tmp_path: Path, shared_data: Path
) -> None:
    dest = tmp_path / "data"
    paths = download("jsb", dest, url_base=mirror.url, progress=False)
    fetched = [e.path for e in file_entries("jsb") if e.fetch]
    assert paths == [dest / p for p in fetched]
    assert _files(dest) == sorted(fetched)  # nothing else: no temporary files
    ours, reference = load_dataset("jsb", dest), load_dataset("jsb", shared_data)
    assert all(np.array_equal(a, b) for a, b in zip(ours.test, reference.test))
    assert check_data_dir(dest, ["jsb"]).passed
    # already present and verified: not fetched again
    before = len(mirror.requests)
    download("jsb", dest, url_base=mirror.url, progress=False)
    assert len(mirror.requests) == before


def test_ptb_char_is_built_from_the_word_files(mirror: Mirror, tmp_path: Path) -> None:
    dest = tmp_path / "data"
    download("ptb_char", dest, url_base=mirror.url, progress=False)
    assert not any("char" in r for r in mirror.requests)  # built, not fetched
    for e in file_entries("ptb_char"):
        assert hashlib.sha256((dest / e.path).read_bytes()).hexdigest() == e.sha256
    corpus = load_dataset("ptb_char", dest)
    assert len(corpus.vocab) == 50
    assert check_data_dir(dest).passed  # ptb (fetched on the way) and ptb_char


def test_mirror_from_environment_and_cli(
    mirror: Mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    dest = tmp_path / "data"
    monkeypatch.setenv("LSTM_SEARCH_DATA_MIRROR", mirror.url)
    assert cli_main(["data", "download", "piano_midi", "--to", str(dest), "--quiet"]) == 0
    assert mirror.requests == ["/music/tcn_mat/Piano_midi.mat"]
    assert cli_main(["data", "check", str(dest)]) == 0
    assert "all good: piano_midi" in capsys.readouterr().out


def test_corrupted_file_is_refused_and_nothing_left(mirror: Mirror, tmp_path: Path) -> None:
    rel = "music/tcn_mat/JSB_Chorales.mat"
    served = mirror.root / rel
    data = bytearray(served.read_bytes())
    data[1000] ^= 0xFF  # same size, one byte different
    served.unlink()
    served.write_bytes(bytes(data))
    dest = tmp_path / "data"
    with pytest.raises(ChecksumError, match=r"jsb music/tcn_mat/JSB_Chorales\.mat.*sha256"):
        download("jsb", dest, url_base=mirror.url, progress=False)
    assert not dest.exists() or _files(dest) == []


def test_truncated_response_is_refused_and_nothing_left(mirror: Mirror, tmp_path: Path) -> None:
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match=r"truncated: received [\d,]+ of 96,095 bytes"):
        download("jsb", dest, url_base=mirror.url + "/truncated", progress=False)
    assert not dest.exists() or _files(dest) == []


def test_short_file_announced_by_server_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    served = mirror.root / "music/tcn_mat/Piano_midi.mat"
    data = served.read_bytes()[:-10]
    served.unlink()
    served.write_bytes(data)
    dest = tmp_path / "data"
    dest.mkdir()
    with pytest.raises(DownloadError, match=r"announces 223,722 bytes.*expects 223,732"):
        download("piano_midi", dest, url_base=mirror.url, progress=False)
    assert _files(dest) == []


def test_http_404_names_dataset_file_and_url(mirror: Mirror, tmp_path: Path) -> None:
    dest = tmp_path / "data"
    url = f"{mirror.url}/music/tcn_mat/Nottingham.mat"
    with pytest.raises(DownloadError, match=rf"nottingham .*from {url}: HTTP 404"):
        download("nottingham", dest, url_base=mirror.url, progress=False)
    assert not dest.exists()  # folders made for the download are removed again


def test_cli_reports_download_errors_and_lists_datasets(
    mirror: Mirror, tmp_path: Path, capsys
) -> None:
    dest = tmp_path / "data"
    args = ["data", "download", "musedata", "--to", str(dest), "--url-base", mirror.url]
    assert cli_main([*args, "--quiet"]) == 1
    assert "error: musedata music/tcn_mat/MuseData.mat" in capsys.readouterr().err
    assert cli_main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for e in file_entries():
        assert e.path in out


def test_bad_existing_file_is_replaced(mirror: Mirror, tmp_path: Path) -> None:
    dest = tmp_path / "data"
    target = dest / "music/tcn_mat/Piano_midi.mat"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not a mat file")
    assert not check_data_dir(dest, ["piano_midi"]).passed
    download("piano_midi", dest, url_base=mirror.url, progress=False)
    assert check_data_dir(dest, ["piano_midi"]).passed


def test_unknown_dataset_and_scheme(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no file table for dataset 'enwik8'"):
        download("enwik8", tmp_path)
    with pytest.raises(DownloadError, match="unsupported URL scheme 'ftp'"):
        download("jsb", tmp_path / "d", url_base="ftp://example.org", progress=False)
    assert not (tmp_path / "d").exists()


def test_check_lists_every_problem(shared_data: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "data"
    (folder / "ptb").mkdir(parents=True)
    (folder / "ptb" / "ptb.train.txt").symlink_to(shared_data / "ptb" / "ptb.train.txt")
    (folder / "ptb" / "ptb.valid.txt").write_text(" a b c \n")  # wrong content
    (folder / "music").mkdir()
    good = (shared_data / "music" / "jsb-chorales-quarter.json").read_bytes()
    (folder / "music" / "jsb-chorales-quarter.json").write_bytes(good[:-1])  # truncated
    report = check_data_dir(folder)
    assert report.datasets == ["ptb", "jsb"]
    text = "\n".join(report.problems)
    assert "ptb.valid.txt: 8 bytes, expected 399,782" in text
    assert "ptb: no file for split 'test'" in text and "download ptb --to" in text
    assert "jsb-chorales-quarter.json: 407,199 bytes, expected 407,200" in text
    assert len(report.problems) == 3
    assert any("ptb train" in line for line in report.ok)
    assert cli_main(["data", "check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert out.count("PROBLEM") == 3
    assert cli_main(["data", "check", str(tmp_path / "nowhere")]) == 1


def test_check_without_a_folder_follows_the_data_path_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LSTM_SEARCH_DATA", raising=False)
    assert cli_main(["data", "check"]) == 1
    assert "data" in capsys.readouterr().err.split()[-1]  # ./data, the default
    monkeypatch.setenv("LSTM_SEARCH_DATA", str(tmp_path / "corpora"))
    assert cli_main(["data", "check"]) == 1
    assert str(tmp_path / "corpora") in capsys.readouterr().err


def test_file_table_is_complete() -> None:
    for e in file_entries():
        assert len(e.sha256) == 64 and e.size > 0
        if e.fetch:
            assert (e.url or "").startswith("https://") or e.derive_from is not None, e.path
        if e.derive_from is not None:
            assert any(f.path == e.derive_from for f in file_entries()), e.path
