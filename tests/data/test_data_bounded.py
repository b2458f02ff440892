"""Inputs that would exhaust the machine: music pickles whose memo fans out, empty and HDF5
``.mat`` files, JSON that nests or spells numbers past Python's limits. Each is refused with a
clear error naming the file (and the cap), before anything large is allocated."""

from __future__ import annotations

import pickle
import tracemalloc
from pathlib import Path

import pytest

from lstm_search.cli import main
from lstm_search.data import DataError
from lstm_search.data import music as music_mod
from lstm_search.data.music import read_music_file
from lstm_search.data.safe_pickle import MAX_ITEMS, counted_items, load_pickle


def _fan_out_pickle(path: Path, *, steps: int = 10_000, refs: int = 1_000) -> Path:
    """A small pickle whose train split references one ``steps``-step piece ``refs`` times:
    ``steps * refs`` time steps, 88 float32 each, once expanded into piano rolls."""
    chord = [60, 64, 67]
    piece = [chord] * steps
    data = {"train": [piece] * refs, "valid": [], "test": []}
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


def test_a_memo_fan_out_pickle_is_refused_before_allocation(tmp_path: Path) -> None:
    path = _fan_out_pickle(tmp_path / "JSB_Chorales.pkl")
    assert path.stat().st_size < 64 * 1024  # 10 million steps: 3.5 GB of rolls
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"JSB_Chorales\.pkl: refused to load: .*"
                                            r"2,000,000 time steps \(MAX_STEPS"):
            read_music_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 1024 * 1024


def test_notes_are_capped_counting_shared_pieces_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _fan_out_pickle(tmp_path / "n.pkl", steps=100, refs=50)  # 5,000 steps, 15,000 notes
    monkeypatch.setattr(music_mod, "MAX_NOTES", 14_999)
    with pytest.raises(DataError, match=r"n\.pkl: refused to load: .*14,999 notes"):
        read_music_file(path)
    monkeypatch.setattr(music_mod, "MAX_NOTES", 15_000)
    assert len(read_music_file(path).train) == 50


def test_one_step_with_more_notes_than_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.pkl"
    path.write_bytes(pickle.dumps({"train": [[[60] * 89]], "valid": [], "test": []}))
    with pytest.raises(DataError, match=r"wide\.pkl, train piece 0, step 0: 89 notes"):
        read_music_file(path)


def test_the_unpickler_counts_shared_references_again(tmp_path: Path) -> None:
    inner = list(range(1000))
    assert counted_items([inner] * 3) == 1 + 3 * 1001
    path = tmp_path / "fan.pkl"
    nested: object = inner
    for _ in range(4):  # 1000 ** 5 items once expanded, a few KB on disk
        nested = [nested] * 1000
    path.write_bytes(pickle.dumps(nested, protocol=4))
    with pytest.raises(DataError, match=rf"fan\.pkl: refused to load: .*{MAX_ITEMS:,} items"):
        load_pickle(path)
    loop: list[object] = []
    loop.append(loop)
    path.write_bytes(pickle.dumps(loop))
    with pytest.raises(DataError, match=r"contains itself"):
        load_pickle(path)


def test_data_check_reports_the_fan_out_pickle(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _fan_out_pickle(tmp_path / "JSB Chorales.pickle")
    code = main(["data", "check", str(tmp_path), "jsb"])
    out = capsys.readouterr()
    assert code != 0
    assert "MAX_STEPS" in out.out + out.err and "Traceback" not in out.err


def test_a_compressed_mat_bomb_is_refused_before_scipy_reads_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A MATLAB v5 file of kilobytes whose zlib elements inflate past MAX_MAT_BYTES."""
    import numpy as np
    import scipy.io

    path = tmp_path / "Bomb.mat"
    zeros = np.zeros((20_000, 88))  # 14 MB of float64 zeros
    scipy.io.savemat(path, {"traindata": zeros, "validdata": zeros, "testdata": zeros},
                     do_compression=True)
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(music_mod, "MAX_MAT_BYTES", 20 * 2**20)  # 3 x 14 MB is over it

    def not_called(*a: object, **k: object) -> None:
        raise AssertionError("scipy.io.loadmat ran on a refused file")

    monkeypatch.setattr(scipy.io, "loadmat", not_called)
    with pytest.raises(DataError, match=r"Bomb\.mat: refused to load: its data decompresses "
                                        r"to more than 20,971,520 bytes \(MAX_MAT_BYTES\)"):
        read_music_file(path)


def test_a_mat_file_under_the_cap_loads(tmp_path: Path) -> None:
    import numpy as np
    import scipy.io

    path = tmp_path / "Small.mat"
    roll = np.zeros((5, 88))
    roll[:, 40] = 1
    pieces = np.empty((1,), dtype=object)
    pieces[0] = roll
    scipy.io.savemat(path, {"traindata": pieces, "validdata": pieces, "testdata": pieces},
                     do_compression=True)
    corpus = read_music_file(path)
    assert [r.shape for r in corpus.train] == [(5, 88)]


def test_empty_and_hdf5_mat_files_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "Empty.mat"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"Empty\.mat: the file is empty"):
        read_music_file(empty)
    header = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116)
              + b"\x00" * 8 + b"\x00\x02IM")
    v73 = tmp_path / "V73.mat"
    v73.write_bytes(header + b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(DataError, match=r"V73\.mat: a MATLAB v7\.3 \(HDF5\) file"):
        read_music_file(v73)
    short = tmp_path / "Short.mat"
    short.write_bytes(b"MATLAB 5.0")
    with pytest.raises(DataError, match=r"Short\.mat: not a readable MATLAB file"):
        read_music_file(short)


@pytest.mark.parametrize("text", ["[" * 100_000, '{"train": [[[' + "6" * 5000 + "]]]}"])
def test_deep_or_huge_music_json_is_a_data_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DataError, match=r"bad\.json: not valid JSON"):
        read_music_file(path)
