"""Readers for word- and character-level language-modelling corpora.

All three corpora use the same token rule: split each line on whitespace and append one
``<eos>`` (blank lines therefore give a lone ``<eos>``). This is the rule of Zaremba et al.
(2014)'s PTB reader and of PyTorch's ``word_language_model`` example, and it reproduces the
token counts in ``shared/data/README.md``.

- Penn Treebank, word level (Mikolov's preprocessing): vocabulary from train, 10,000 symbols
  including ``<eos>``; 929,589 / 73,760 / 82,430 tokens.
- Penn Treebank, character level (Mikolov's ``ptb.char.*``): symbols are already separated by
  spaces, ``_`` marks a word boundary; 49 symbols + ``<eos>`` for the end of each line.
- WikiText-2 (Merity et al. 2016, tokenized v1): vocabulary over all three splits as PyTorch's
  example builds it, 33,278 symbols including ``<eos>``; 2,088,628 training tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from lstm_search.data._errors import DataError
from lstm_search.data.vocab import EOS, Vocabulary

__all__ = [
    "SPLITS",
    "TextCorpus",
    "ptb_words_to_chars",
    "read_lines",
    "read_lm_corpus",
    "read_ptb_chars",
    "read_ptb_words",
    "read_wikitext2",
    "tokenize_lines",
]

SPLITS: tuple[str, str, str] = ("train", "valid", "test")
Unit = Literal["word", "char"]


@dataclass(frozen=True, eq=False)
class TextCorpus:
    """A language-modelling corpus: one long id stream per split and the shared vocabulary.

    ``train``, ``valid`` and ``test`` are int64 arrays of shape (N,); feed them to
    :func:`lstm_search.data.batchify`.
    """

    name: str
    unit: Unit
    vocab: Vocabulary
    train: np.ndarray  # (N_train,) int64
    valid: np.ndarray  # (N_valid,) int64
    test: np.ndarray  # (N_test,) int64
    files: Mapping[str, Path]  # split -> file it was read from

    def split(self, name: str) -> np.ndarray:
        """The id stream of split ``name`` ("train", "valid" or "test")."""
        if name not in SPLITS:
            raise KeyError(f"{self.name}: unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(self.split(s)):,}" for s in SPLITS)
        return f"TextCorpus({self.name!r}, unit={self.unit!r}, vocab={len(self.vocab):,}, {sizes})"


def read_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file, without their line ends; ``\\r\\n`` counts as one line end.

    Only ``\\n`` (after universal-newline translation) ends a line, as when iterating over a
    file; ``str.splitlines`` would also split on rarer separators found in Wikipedia text.
    Whitespace after the last line end is not a line: Mikolov's ``ptb.char.*`` files end with
    ``"\\n "`` (every character, the last line end included, is followed by a space).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from None
    lines = text.split("\n")
    if lines and not lines[-1].strip():
        lines.pop()  # the final line end does not start a new line
    return lines


def tokenize_lines(lines: Sequence[str]) -> list[str]:
    """Whitespace-split every line and append ``<eos>`` to each (blank lines included)."""
    tokens: list[str] = []
    for line in lines:
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


def _encode(tokens: list[str], vocab: Vocabulary, path: Path, lines: Sequence[str]) -> np.ndarray:
    try:
        return vocab.encode(tokens)
    except KeyError:
        # find the first unknown symbol and its line for a useful message
        for lineno, line in enumerate(lines, start=1):
            for tok in line.split():
                if tok not in vocab:
                    raise DataError(
                        f"{path}, line {lineno}: symbol {tok!r} is not in the vocabulary built "
                        "from the training split; is this file from the same corpus?"
                    ) from None
        raise  # pragma: no cover - the loop above always finds it


def read_lm_corpus(
    files: Mapping[str, str | Path],
    *,
    name: str,
    unit: Unit = "word",
    vocab_splits: Sequence[str] = ("train",),
) -> TextCorpus:
    """Read train/valid/test files with the line rule above; the vocabulary covers
    ``vocab_splits`` (symbols ordered by :meth:`Vocabulary.from_counts`, ``<eos>`` first).

    A symbol of another split that is not in the vocabulary is an error naming file and line.
    """
    missing = [s for s in SPLITS if s not in files]
    if missing:
        raise DataError(f"{name}: no file given for split(s) {missing}")
    paths = {s: Path(files[s]) for s in SPLITS}
    lines = {s: read_lines(paths[s]) for s in SPLITS}
    tokens = {s: tokenize_lines(lines[s]) for s in SPLITS}
    counts: Counter[str] = Counter()
    for s in vocab_splits:
        counts.update(tokens[s])
    vocab = Vocabulary.from_counts(counts, specials=(EOS,))
    ids = {s: _encode(tokens[s], vocab, paths[s], lines[s]) for s in SPLITS}
    for s in SPLITS:
        if ids[s].size == 0:
            raise DataError(f"{name}: the {s} split ({paths[s]}) is empty")
    return TextCorpus(name=name, unit=unit, vocab=vocab, files=paths, **ids)


def read_ptb_words(train: str | Path, valid: str | Path, test: str | Path) -> TextCorpus:
    """Penn Treebank, word level (Mikolov et al. 2010 preprocessing, as in Zaremba et al. 2014)."""
    return read_lm_corpus({"train": train, "valid": valid, "test": test}, name="ptb")


def read_ptb_chars(train: str | Path, valid: str | Path, test: str | Path) -> TextCorpus:
    """Penn Treebank, character level (Mikolov's ``ptb.char.*.txt``); ``<eos>`` ends each line."""
    return read_lm_corpus(
        {"train": train, "valid": valid, "test": test}, name="ptb_char", unit="char"
    )


def read_wikitext2(train: str | Path, valid: str | Path, test: str | Path) -> TextCorpus:
    """WikiText-2 (Merity et al. 2016), vocabulary over all three splits as in PyTorch's
    ``word_language_model`` example."""
    return read_lm_corpus(
        {"train": train, "valid": valid, "test": test},
        name="wikitext2",
        vocab_splits=SPLITS,
    )


def ptb_words_to_chars(text: str) -> str:
    """Mikolov's character-level PTB from the word-level text.

    In each line, whitespace runs become ``_`` and leading/trailing whitespace is dropped; lines
    are joined with ``\\n`` plus a final ``\\n``; then every character is followed by one space.
    This reproduces ``ptb.char.valid.txt`` and ``ptb.char.test.txt`` byte for byte from
    ``ptb.valid.txt`` and ``ptb.test.txt`` (see ``shared/data/README.md``).
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    body = "".join("_".join(line.split()) + "\n" for line in lines)
    return "".join(ch + " " for ch in body)
