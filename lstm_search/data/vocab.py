"""A symbol vocabulary: an ordered, immutable mapping between symbols and integer ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

__all__ = ["EOS", "PAD", "Vocabulary"]

EOS = "<eos>"  # end-of-line (word level) / end-of-sequence symbol
PAD = "<pad>"  # padding symbol of the synthetic tasks (never scored)


class Vocabulary:
    """Symbols in id order: ``vocab.itos[i]`` is the symbol with id ``i``.

    >>> v = Vocabulary(["<eos>", "a", "b"])
    >>> v.encode(["b", "a"]).tolist(), v.decode([1, 0])
    ([2, 1], ['a', '<eos>'])
    """

    __slots__ = ("_itos", "_stoi")

    def __init__(self, symbols: Iterable[str]) -> None:
        itos = tuple(symbols)
        stoi: dict[str, int] = {}
        for i, s in enumerate(itos):
            if not isinstance(s, str):
                raise TypeError(f"vocabulary symbol #{i} is {type(s).__name__}, not str: {s!r}")
            if s in stoi:
                raise ValueError(f"vocabulary symbol {s!r} appears twice (ids {stoi[s]} and {i})")
            stoi[s] = i
        self._itos = itos
        self._stoi = stoi

    @classmethod
    def from_counts(cls, counts: Counter[str], specials: Sequence[str] = ()) -> Vocabulary:
        """Specials first, then symbols by decreasing count, ties broken alphabetically.

        This is the order of the TensorFlow PTB reader used for Zaremba et al. (2014); it is
        deterministic and puts frequent symbols at small ids (handy for adaptive softmax).
        """
        rest = sorted((s for s in counts if s not in specials), key=lambda s: (-counts[s], s))
        return cls([*specials, *rest])

    @property
    def itos(self) -> tuple[str, ...]:
        return self._itos

    @property
    def stoi(self) -> dict[str, int]:
        return dict(self._stoi)

    def __len__(self) -> int:
        return len(self._itos)

    def __iter__(self) -> Iterator[str]:
        return iter(self._itos)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._itos == other._itos

    def __hash__(self) -> int:
        return hash(self._itos)

    def __repr__(self) -> str:
        head = ", ".join(repr(s) for s in self._itos[:5])
        more = ", ..." if len(self._itos) > 5 else ""
        return f"Vocabulary([{head}{more}], size={len(self)})"

    def index(self, symbol: str) -> int:
        """The id of ``symbol``; ``KeyError`` naming the symbol if it is unknown."""
        try:
            return self._stoi[symbol]
        except KeyError:
            raise KeyError(f"symbol {symbol!r} is not in the vocabulary") from None

    def encode(self, symbols: Iterable[str]) -> np.ndarray:
        """Ids of ``symbols`` as an int64 array of shape (N,)."""
        stoi = self._stoi
        try:
            return np.fromiter((stoi[s] for s in symbols), dtype=np.int64)
        except KeyError as e:
            raise KeyError(f"symbol {e.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Symbols of ``ids`` (any iterable of ints, numpy array or tensor)."""
        itos = self._itos
        return [itos[int(i)] for i in ids]
