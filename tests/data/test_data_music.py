"""Music corpora: counts against shared/data/README.md, agreement between the three formats,
piano-roll conventions, and the restricted unpickler refusing code."""

from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from lstm_search.data import (
    LOWEST_NOTE,
    N_KEYS,
    DataError,
    UnsafePickleError,
    load_dataset,
    load_pickle,
    locate,
    notes_to_roll,
    read_music_file,
    roll_to_notes,
)

# README row label -> registry name
SETS = {
    "JSB Chorales (quarter)": "jsb",
    "Nottingham": "nottingham",
    "MuseData": "musedata",
    "Piano-midi.de": "piano_midi",
}


def _readme_music_rows(readme: str) -> dict[str, list[str]]:
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in SETS:
            rows[SETS[cells[0]]] = cells
    assert len(rows) == len(SETS), "README music table not found"
    return rows


@pytest.fixture(scope="module")
def readme_rows(shared_data: Path) -> dict[str, list[str]]:
    return _readme_music_rows((shared_data / "README.md").read_text())


@pytest.mark.parametrize("name", list(SETS.values()))
def test_counts_range_and_polyphony_match_readme(
    shared_data: Path, readme_rows: dict[str, list[str]], name: str
) -> None:
    corpus = load_dataset(name, shared_data)
    row = readme_rows[name]  # | set | train | valid | test | MIDI range | max notes at once |
    for split, cell in zip(("train", "valid", "test"), row[1:4]):
        pieces, steps = (int(x) for x in re.findall(r"\d+", cell))
        assert len(corpus.split(split)) == pieces
        assert corpus.n_steps(split) == steps
    lo, hi = (int(x) for x in re.findall(r"\d+", row[4]))
    rolls = [r for s in ("train", "valid", "test") for r in corpus.split(s)]
    on = np.flatnonzero(np.concatenate(rolls).any(axis=0)) + LOWEST_NOTE
    assert (on.min(), on.max()) == (lo, hi)
    assert max(int(r.sum(axis=1).max()) for r in rolls) == int(row[5])
    assert all(r.dtype == np.float32 and r.shape[1] == N_KEYS for r in rolls)


def _same(a, b) -> bool:
    return all(
        len(a.split(s)) == len(b.split(s))
        and all(np.array_equal(x, y) for x, y in zip(a.split(s), b.split(s)))
        for s in ("train", "valid", "test")
    )


def test_jsb_formats_agree(shared_data: Path) -> None:
    music = shared_data / "music"
    mat = read_music_file(music / "tcn_mat" / "JSB_Chorales.mat")
    for other in (
        music / "derived" / "JSB_Chorales.pkl",
        music / "jsb-chorales-quarter.json",
        music / "jsb-chorales-quarter.pkl",  # numpy.int64 notes: needs the numpy allowance
    ):
        assert _same(mat, read_music_file(other)), other


@pytest.mark.parametrize("stem", ["Nottingham", "Piano_midi"])
def test_mat_and_bl_pickle_agree(shared_data: Path, stem: str) -> None:
    music = shared_data / "music"
    assert _same(
        read_music_file(music / "tcn_mat" / f"{stem}.mat"),
        read_music_file(music / "derived" / f"{stem}.pkl"),
    )


def test_music_found_in_flat_folder_and_mdata(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "music"
    (tmp_path / "mdata").mkdir()
    (tmp_path / "mdata" / "Nottingham.mat").symlink_to(src / "tcn_mat" / "Nottingham.mat")
    (tmp_path / "jsb-chorales-quarter.json").symlink_to(src / "jsb-chorales-quarter.json")
    assert locate("nottingham", tmp_path)["all"] == tmp_path / "mdata" / "Nottingham.mat"
    jsb = load_dataset("jsb", tmp_path)
    assert jsb.source == tmp_path / "jsb-chorales-quarter.json" and len(jsb.train) > 0


def test_roll_conventions() -> None:
    steps = [[21, 60, 108], [], [64]]
    roll = notes_to_roll(steps)
    assert roll.shape == (3, 88) and roll.dtype == np.float32
    assert roll[0, 0] == roll[0, 60 - 21] == roll[0, 87] == 1 and roll[0].sum() == 3
    assert roll_to_notes(roll) == steps
    with pytest.raises(DataError, match=r"song, step 1: note 109"):
        notes_to_roll([[60], [109]], where="song")


def test_bad_json_and_mat_name_split_and_piece(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": [[[60]]], "valid": [[[60], [20]]], "test": []}))
    with pytest.raises(DataError, match=r"bad\.json, valid piece 0, step 1: note 20"):
        read_music_file(bad)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"train": [], "valid": []}))
    with pytest.raises(DataError, match=r"split 'test' is missing"):
        read_music_file(missing)
    import scipy.io

    cells = np.empty((1, 1), dtype=object)
    cells[0, 0] = np.zeros((4, 88), dtype=np.uint8)
    scipy.io.savemat(tmp_path / "two.mat", {"traindata": cells, "validdata": cells})
    with pytest.raises(DataError, match=r"two\.mat: split 'test' is missing"):
        read_music_file(tmp_path / "two.mat")


class _System:
    """Pickles to a call of os.system: what a malicious dataset file would do."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "Nottingham.pkl"
    payload = {"train": [[[60]]], "valid": _System(f"touch {marker}"), "test": []}
    evil.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"Nottingham\.pkl.*refused.*system") as info:
        load_dataset("nottingham", tmp_path)
    assert "could run code" in str(info.value)
    assert not marker.exists()
    for proto in (0, 2, pickle.HIGHEST_PROTOCOL):  # GLOBAL and STACK_GLOBAL opcodes
        path = tmp_path / f"eval{proto}.pkl"
        path.write_bytes(pickle.dumps(_Eval(), protocol=proto))
        with pytest.raises(UnsafePickleError, match=r"builtin\w*\.eval"):
            load_pickle(path)


def test_numpy_scalars_allowed_but_only_numeric(tmp_path: Path) -> None:
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps({"x": [np.int64(60), np.float32(1.5), np.uint8(3)]}, 4))
    data = load_pickle(good)
    assert data == {"x": [60, 1.5, 3]} and type(data["x"][0]) is int
    obj = tmp_path / "object.pkl"
    obj.write_bytes(pickle.dumps(np.dtype(object), 4))
    with pytest.raises(UnsafePickleError, match=r"numpy dtype 'O8'"):
        load_pickle(obj)
    arr = tmp_path / "array.pkl"  # whole arrays need numpy's array reconstructor: refused
    arr.write_bytes(pickle.dumps(np.arange(3), 4))
    with pytest.raises(UnsafePickleError, match="_reconstruct"):
        load_pickle(arr)


def test_truncated_pickle_is_a_data_error(shared_data: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pkl"
    cut.write_bytes((shared_data / "music" / "derived" / "JSB_Chorales.pkl").read_bytes()[:1000])
    with pytest.raises(DataError, match=r"cut\.pkl: not a readable pickle"):
        load_pickle(cut)
