"""Data for lstm-search: standard corpora, synthetic tasks, downloads with checksums.

Usage::

    from lstm_search.data import load_dataset, batchify, bptt_batches, pad_pieces

    ptb = load_dataset("ptb", "path/to/data")     # TextCorpus: vocab + int64 id streams
    train = batchify(ptb.train, batch_size=20)     # (T, 20) LongTensor, Zaremba layout
    for inputs, targets in bptt_batches(train, bptt=35):
        ...                                        # (35, 20) each; carry the hidden state

    jsb = load_dataset("jsb", "path/to/data")      # MusicCorpus: lists of (T, 88) rolls
    for rolls, mask, lengths in music_batches(jsb.train, 8, seed=epoch):
        ...                                        # (T, 8, 88), (T, 8), (8,)

    task = synthetic_splits("arithmetic", seed=0)  # SyntheticSplits: train/valid/test + vocab
    for b in synthetic_batches(task.train, 32, seed=epoch):
        ...                                        # b.inputs (T, 32), b.targets, b.mask (T, 32)

The data folder may be in this framework's layout (what ``lstm-search data download NAME --to
DIR`` writes: ``ptb/``, ``wikitext-2/``, ``music/tcn_mat/``) or hold the files directly; see
:mod:`lstm_search.data.registry` for every place looked at. One rule finds the folder
(:func:`resolve_data_dir`): ``data_dir`` if given, else ``$LSTM_SEARCH_DATA``, else ``./data``.
Names: ``ptb``, ``ptb_char``, ``wikitext2``, ``jsb``, ``nottingham``,
``musedata``, ``piano_midi``.

Readers return numpy arrays and need no torch; the batching helpers return torch tensors.
Names resolve lazily, so importing this package imports neither torch nor scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "DataError": "lstm_search.data._errors",
    "MissingDataError": "lstm_search.data._errors",
    "ChecksumError": "lstm_search.data._errors",
    "DownloadError": "lstm_search.data._errors",
    "UnsafePickleError": "lstm_search.data._errors",
    # vocabulary and readers
    "EOS": "lstm_search.data.vocab",
    "PAD": "lstm_search.data.vocab",
    "Vocabulary": "lstm_search.data.vocab",
    "SPLITS": "lstm_search.data.text",
    "TextCorpus": "lstm_search.data.text",
    "read_lm_corpus": "lstm_search.data.text",
    "read_ptb_words": "lstm_search.data.text",
    "read_ptb_chars": "lstm_search.data.text",
    "read_wikitext2": "lstm_search.data.text",
    "ptb_words_to_chars": "lstm_search.data.text",
    "MusicCorpus": "lstm_search.data.music",
    "N_KEYS": "lstm_search.data.music",
    "LOWEST_NOTE": "lstm_search.data.music",
    "notes_to_roll": "lstm_search.data.music",
    "roll_to_notes": "lstm_search.data.music",
    "read_music_file": "lstm_search.data.music",
    "read_bl_pickle": "lstm_search.data.music",
    "read_tcn_mat": "lstm_search.data.music",
    "read_music_json": "lstm_search.data.music",
    "load_pickle": "lstm_search.data.safe_pickle",
    # registry
    "DATASETS": "lstm_search.data.registry",
    "DatasetSpec": "lstm_search.data.registry",
    "dataset_folder": "lstm_search.data.registry",
    "dataset_names": "lstm_search.data.registry",
    "load_dataset": "lstm_search.data.registry",
    "load_text": "lstm_search.data.registry",
    "load_music": "lstm_search.data.registry",
    "locate": "lstm_search.data.registry",
    # the data-path rule
    "DATA_ENV": "lstm_search.data.paths",
    "resolve_data_dir": "lstm_search.data.paths",
    # files, download, check
    "FileEntry": "lstm_search.data.checksums",
    "file_entries": "lstm_search.data.checksums",
    "sha256_file": "lstm_search.data.checksums",
    "MIRROR_ENV": "lstm_search.data.download",
    "download": "lstm_search.data.download",
    "CheckReport": "lstm_search.data.check",
    "check_data_dir": "lstm_search.data.check",
    # batching (torch)
    "batchify": "lstm_search.data.batching",
    "bptt_batches": "lstm_search.data.batching",
    "pad_pieces": "lstm_search.data.batching",
    "music_batches": "lstm_search.data.batching",
    "PianoRollBatch": "lstm_search.data.batching",
    "synthetic_batches": "lstm_search.data.batching",
    "SyntheticBatch": "lstm_search.data.batching",
    # synthetic tasks (numpy only)
    "SYNTHETIC_TASKS": "lstm_search.data.synthetic",
    "SyntheticSplit": "lstm_search.data.synthetic",
    "SyntheticSplits": "lstm_search.data.synthetic",
    "synthetic_splits": "lstm_search.data.synthetic",
    "make_splits": "lstm_search.data.synthetic",
    "arithmetic": "lstm_search.data.synthetic",
    "xml": "lstm_search.data.synthetic",
    "memorize": "lstm_search.data.synthetic",
    "adding": "lstm_search.data.synthetic",
    "recall": "lstm_search.data.synthetic",
    "mqar": "lstm_search.data.synthetic",
    "selective_copy": "lstm_search.data.synthetic",
    "parity": "lstm_search.data.synthetic",
    "waveform": "lstm_search.data.synthetic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lstm_search.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
