"""Named datasets: where their files may lie inside a data folder, and one loader for all.

A researcher's data folder may follow this framework's layout (``ptb/ptb.train.txt``,
``music/tcn_mat/JSB_Chorales.mat``, as ``lstm-search data download`` writes it), hold the
files directly (``ptb.train.txt``), or use another common layout (Mikolov's
``simple-examples/data``, AWD-LSTM's ``penn/train.txt``, PyTorch's ``wikitext-2/train.txt``,
TCN's ``mdata/``). :func:`locate` tries the candidates in order and takes the first that exists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lstm_search.data._errors import DataError, MissingDataError
from lstm_search.data.music import MusicCorpus, read_music_file
from lstm_search.data.paths import data_dir_origin, how_to_set_data_dir, resolve_data_dir
from lstm_search.data.text import (
    SPLITS,
    TextCorpus,
    read_ptb_chars,
    read_ptb_words,
    read_wikitext2,
)

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "dataset_folder",
    "dataset_names",
    "load_dataset",
    "load_music",
    "load_text",
    "locate",
    "search",
]


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: kind, reference, and candidate relative paths per role.

    ``candidates`` maps "train"/"valid"/"test" (text corpora) or "all" (a music file holding
    every split) to relative paths tried in order.
    """

    name: str
    kind: Literal["text", "music"]
    title: str
    citation: str
    candidates: Mapping[str, tuple[str, ...]]


def _text(folder: str, pattern: str, extra: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    # pattern has one "{}" for the split, e.g. "ptb.{}.txt"; extra patterns may use it too
    return {
        s: (f"{folder}/{pattern.format(s)}", pattern.format(s), *(e.format(s) for e in extra))
        for s in SPLITS
    }


_MUSIC_DIRS = ("music/tcn_mat", "music/derived", "music", "tcn_mat", "derived", "mdata", "")


def _music(*basenames: str) -> dict[str, tuple[str, ...]]:
    # basename-major: a preferred format anywhere beats a later one (.mat loads fastest)
    return {"all": tuple(f"{d}/{b}" if d else b for b in basenames for d in _MUSIC_DIRS)}


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "ptb",
            "text",
            "Penn Treebank, word level (Mikolov's preprocessing)",
            "Marcus et al. 1993; Mikolov et al. 2010; Zaremba et al. 2014",
            _text("ptb", "ptb.{}.txt", ("simple-examples/data/ptb.{}.txt", "penn/{}.txt")),
        ),
        DatasetSpec(
            "ptb_char",
            "text",
            "Penn Treebank, character level (Mikolov's ptb.char.*)",
            "Mikolov et al. 2012 (subword LM); Graves 2013",
            _text("ptb", "ptb.char.{}.txt", ("simple-examples/data/ptb.char.{}.txt",)),
        ),
        DatasetSpec(
            "wikitext2",
            "text",
            "WikiText-2 (tokenized, v1)",
            "Merity et al. 2016, Pointer Sentinel Mixture Models",
            _text("wikitext-2", "wiki.{}.tokens", ("wikitext-2/{}.txt",)),
        ),
        DatasetSpec(
            "jsb",
            "music",
            "JSB Chorales, quarter notes, Boulanger-Lewandowski split",
            "Boulanger-Lewandowski et al. 2012",
            _music(
                "JSB_Chorales.mat",
                "JSB_Chorales.pkl",
                "JSB Chorales.pickle",
                "jsb-chorales-quarter.json",
                "jsb-chorales-quarter.pkl",
            ),
        ),
        DatasetSpec(
            "nottingham",
            "music",
            "Nottingham folk tunes, Boulanger-Lewandowski split",
            "Boulanger-Lewandowski et al. 2012",
            _music("Nottingham.mat", "Nottingham.pkl", "Nottingham.pickle"),
        ),
        DatasetSpec(
            "musedata",
            "music",
            "MuseData, Boulanger-Lewandowski split",
            "Boulanger-Lewandowski et al. 2012",
            _music("MuseData.mat", "MuseData.pkl", "MuseData.pickle"),
        ),
        DatasetSpec(
            "piano_midi",
            "music",
            "Piano-midi.de, Boulanger-Lewandowski split",
            "Boulanger-Lewandowski et al. 2012",
            _music("Piano_midi.mat", "Piano_midi.pkl", "Piano-midi.de.pickle"),
        ),
    )
}

_TEXT_READERS: dict[str, Callable[..., TextCorpus]] = {
    "ptb": read_ptb_words,
    "ptb_char": read_ptb_chars,
    "wikitext2": read_wikitext2,
}


def dataset_names() -> list[str]:
    """Names accepted by :func:`load_dataset`, in registry order."""
    return list(DATASETS)


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(
            f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}"
        ) from None


def _resolve_dir(data_dir: str | Path | None, name: str) -> Path:
    path = resolve_data_dir(data_dir)
    if not path.is_dir():
        raise MissingDataError(
            f"dataset {name!r}: the data folder {path.resolve()} ({data_dir_origin(data_dir)}) "
            f"does not exist or is not a folder; {how_to_set_data_dir()}, or get the dataset "
            f"with: lstm-search data download {name} --to {path}",
            dataset=name,
            tried=(str(path),),
        )
    return path


def search(
    name: str, data_dir: str | Path | None = None
) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """Look for every role of dataset ``name``.

    Returns (role -> file found, role -> paths tried in vain); a missing file is not an error
    here (only a missing data folder is).
    """
    spec = _spec(name)
    root = _resolve_dir(data_dir, name)
    found: dict[str, Path] = {}
    missing: dict[str, list[Path]] = {}
    for role, rels in spec.candidates.items():
        tried = [root / rel for rel in rels]
        hit = next((p for p in tried if p.is_file()), None)
        if hit is None:
            missing[role] = tried
        else:
            found[role] = hit
    return found, missing


def locate(name: str, data_dir: str | Path | None = None) -> dict[str, Path]:
    """Role -> existing file for dataset ``name`` under ``data_dir``.

    Raises :class:`MissingDataError` naming the dataset, the split, every path tried and the
    command that downloads it.
    """
    root = _resolve_dir(data_dir, name)
    found, missing = search(name, root)
    for role, tried in missing.items():  # report the first missing role
        what = "all splits" if role == "all" else f"split {role!r}"
        listing = "\n".join(f"  {p}" for p in tried)
        raise MissingDataError(
            f"dataset {name!r}: no file for {what} in the data folder {root.resolve()} "
            f"({data_dir_origin(data_dir)}). Tried:\n{listing}\n"
            f"Get it with: lstm-search data download {name} --to {root}\n"
            f"or {how_to_set_data_dir()}",
            dataset=name,
            split=role,
            tried=tuple(str(p) for p in tried),
        )
    return found


def dataset_folder(name: str, data_dir: str | Path | None = None) -> Path | None:
    """For a task named ``name``: the absolute data folder holding dataset ``name`` (the data-path
    rule applied to ``data_dir``), or None when ``name`` is no dataset (synthetic tasks).

    Raises :class:`MissingDataError` naming the file, the folder searched and how to set it.
    """
    if name not in DATASETS:
        return None
    locate(name, data_dir)
    return resolve_data_dir(data_dir).resolve()


def load_text(name: str, data_dir: str | Path | None = None) -> TextCorpus:
    """Load text corpus ``name`` ("ptb", "ptb_char", "wikitext2") from ``data_dir``."""
    if _spec(name).kind != "text":
        raise DataError(f"dataset {name!r} is music, not text; use load_music")
    files = locate(name, data_dir)
    return _TEXT_READERS[name](files["train"], files["valid"], files["test"])


def load_music(name: str, data_dir: str | Path | None = None) -> MusicCorpus:
    """Load music corpus ``name`` ("jsb", "nottingham", "musedata", "piano_midi")."""
    if _spec(name).kind != "music":
        raise DataError(f"dataset {name!r} is text, not music; use load_text")
    path = locate(name, data_dir)["all"]
    try:
        return read_music_file(path, name=name)
    except MissingDataError:
        raise
    except DataError as e:  # keep the class (UnsafePickleError stays one), name the dataset
        raise type(e)(f"dataset {name!r}: {e}") from None


def load_dataset(name: str, data_dir: str | Path | None = None) -> TextCorpus | MusicCorpus:
    """Load any registered dataset from ``data_dir`` (None: ``$LSTM_SEARCH_DATA``, else ``./data``).

    >>> corpus = load_dataset("ptb", "../shared/data")      # doctest: +SKIP
    >>> len(corpus.vocab), corpus.train.shape                # doctest: +SKIP
    (10000, (929589,))
    """
    spec = _spec(name)
    return load_text(name, data_dir) if spec.kind == "text" else load_music(name, data_dir)
