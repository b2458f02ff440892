"""Character-level synthetic tasks of Jozefowicz, Zaremba & Sutskever (2015), "An Empirical
Exploration of Recurrent Network Architectures", section 3.

All three are next-symbol prediction over a string (kind "lm", see :class:`SyntheticSplit`);
the mask marks the predictable part that accuracy is measured on.
"""

from __future__ import annotations

import itertools
import string

import numpy as np

from lstm_search.data.synthetic._split import Seed, SyntheticSplit, as_rng, pack_strings
from lstm_search.data.vocab import EOS, PAD, Vocabulary

__all__ = ["GO", "arithmetic", "arithmetic_vocab", "memorize", "xml", "xml_vocab"]

GO = "="  # memorize: the marker after which the symbols are reproduced
_LETTERS = string.ascii_lowercase


def _position_in_sequence(sizes: np.ndarray) -> np.ndarray:
    """Flat index of each symbol within its own sequence: [0..s0-1, 0..s1-1, ...]."""
    starts = np.cumsum(sizes) - sizes
    return np.arange(int(sizes.sum())) - np.repeat(starts, sizes)


def arithmetic_vocab(letters: str = _LETTERS) -> Vocabulary:
    """``<pad>``, ``<eos>``, digits, ``+ - =`` and the distractor letters."""
    return Vocabulary([PAD, EOS, *string.digits, "+", "-", "=", *letters])


def _numbers(rng: np.random.Generator, n: int, max_digits: int) -> np.ndarray:
    """(n,) ints: digit count uniform in 1..max_digits, then value uniform among those."""
    digits = rng.integers(1, max_digits + 1, size=n)  # (n,)
    low = np.where(digits == 1, 0, 10 ** (digits - 1))
    return rng.integers(low, 10**digits)  # (n,), high exclusive


def arithmetic(
    n: int,
    seed: Seed,
    *,
    max_digits: int = 8,
    distractor_p: float = 0.4,
    letters: str = _LETTERS,
) -> SyntheticSplit:
    """Jozefowicz et al. (2015) Arithmetic: ``a+b`` or ``a-b`` with random letters in between.

    ``a`` and ``b`` have 1..``max_digits`` digits (count uniform, then value uniform); after
    every character of the question a run of distractor letters follows, of length k with
    probability (1-p) p^k (``p = distractor_p``), e.g. ``3e36d9-h1h39f94eeh43keg3c=-13991064``.
    The sequence is question, ``=``, the answer (with ``-`` when negative) and ``<eos>``; the
    answer characters and the ``<eos>`` are the scored targets. Accuracy is per symbol: the
    fraction of scored targets predicted right, counted over every scored step of every
    sequence (not whole answers right). ``text`` holds the strings without ``<eos>``.
    """
    if not 1 <= max_digits <= 17:
        raise ValueError(f"arithmetic: max_digits must be in 1..17, got {max_digits}")
    if not 0.0 <= distractor_p < 1.0:
        raise ValueError(f"arithmetic: distractor_p must be in [0, 1), got {distractor_p}")
    if not letters or any(c not in _LETTERS for c in letters) or len(set(letters)) < len(letters):
        raise ValueError(f"arithmetic: letters must be distinct lowercase letters, got {letters!r}")
    rng = as_rng(seed)
    # draw everything at once; the loop below only assembles strings
    a, b = _numbers(rng, n, max_digits), _numbers(rng, n, max_digits)  # (n,), (n,)
    plus = rng.random(n) < 0.5  # (n,)
    q_max = 2 * max_digits + 1  # longest question: digits, operator, digits
    runs = (rng.geometric(1.0 - distractor_p, size=(n, q_max)) - 1).tolist()  # P(k)=(1-p)p^k
    fill = "".join(letters[j] for j in rng.integers(0, len(letters), size=sum(map(sum, runs))))
    used = 0
    texts: list[str] = []
    answer_from: list[int] = []  # index of "=" in each text
    for ai, bi, p, run in zip(a.tolist(), b.tolist(), plus.tolist(), runs):
        parts = []
        for ch, k in zip(f"{ai}{'+' if p else '-'}{bi}", run):
            parts += [ch, fill[used : used + k]]
            used += k
        question = "".join(parts)
        answer_from.append(len(question))
        texts.append(f"{question}={ai + bi if p else ai - bi}")
    sizes = np.array([len(t) + 1 for t in texts])  # + <eos>
    scored = _position_in_sequence(sizes) > np.repeat(answer_from, sizes)  # after "="
    return pack_strings(texts, scored, arithmetic_vocab(letters), "arithmetic", append_eos=True)


def xml_vocab() -> Vocabulary:
    """``<pad>``, ``<eos>``, ``< > /`` and the lowercase letters."""
    return Vocabulary([PAD, EOS, "<", ">", "/", *_LETTERS])


def xml(
    n: int,
    seed: Seed,
    *,
    max_steps: int = 50,
    min_name: int = 2,
    max_name: int = 10,
    p_close: float = 0.5,
) -> SyntheticSplit:
    """Jozefowicz et al. (2015) XML modelling: synthetic nested tags, e.g.
    ``<ab><xyz></xyz><cd></cd></ab>``.

    Tag names have ``min_name``..``max_name`` lowercase letters. At each step, with probability
    ``p_close`` or forcibly once ``max_steps`` steps have passed, the most recent open tag is
    closed (or the document stops when none is open); otherwise a new random tag is opened.
    The first step always opens a tag, so no document is empty. ``<eos>`` ends the document.

    Scored targets: the characters of each closing tag after ``</`` (the name and ``>``), which
    the stack of open tags determines; everything else (new names, when to close) is random.
    This is the predictable part that Jozefowicz et al. measured.
    """
    if not 1 <= min_name <= max_name:
        raise ValueError(f"xml: need 1 <= min_name <= max_name, got {min_name}, {max_name}")
    if max_steps < 1 or not 0.0 < p_close < 1.0:
        raise ValueError(
            f"xml: need max_steps >= 1 and 0 < p_close < 1, got {max_steps}, {p_close}"
        )
    rng = as_rng(seed)
    # every random draw at once: step s < max_steps of document i decides with close[i][s]
    # and, when it opens a tag, takes a name of sizes[i][s] letters from letters[i, s]
    close = (rng.random((n, max_steps)) < p_close).tolist()  # (N, S)
    sizes = rng.integers(min_name, max_name + 1, size=(n, max_steps)).tolist()  # (N, S)
    letters = (rng.integers(0, 26, size=(n, max_steps * max_name)) + ord("a")).astype(np.uint8)
    texts: list[str] = []
    for i in range(n):
        pool = letters[i].tobytes().decode()  # (S * max_name) letters
        parts: list[str] = []
        stack: list[str] = []
        for step in itertools.count():
            if step > 0 and (step >= max_steps or close[i][step]):
                if not stack:
                    break
                parts.append(f"</{stack.pop()}>")
            else:
                at = step * max_name
                name = pool[at : at + sizes[i][step]]
                stack.append(name)
                parts.append(f"<{name}>")
        texts.append("".join(parts))
    # scored: symbols after a "/" and up to the next ">" ("/" only occurs in closing tags)
    flat = np.frombuffer("".join(t + "\n" for t in texts).encode(), dtype=np.uint8)
    idx = np.arange(flat.size)
    last_slash = np.maximum.accumulate(np.where(flat == ord("/"), idx, -1))
    last_gt = np.maximum.accumulate(np.where(flat == ord(">"), idx, -1))
    prev_slash = np.concatenate([[-1], last_slash[:-1]])  # strictly before each symbol
    prev_gt = np.concatenate([[-1], last_gt[:-1]])
    scored = prev_slash > prev_gt  # the "\n" stands for <eos>: after a ">", never scored
    return pack_strings(texts, scored, xml_vocab(), "xml", append_eos=True)


def memorize(
    n: int,
    seed: Seed,
    *,
    n_symbols: int = 5,
    alphabet: int = 26,
) -> SyntheticSplit:
    """Jozefowicz et al. (2015) memorisation: read ``n_symbols`` symbols drawn uniformly from
    ``alphabet`` letters, then a ``=`` marker, then reproduce them, e.g. ``qwert=qwert``.

    The reproduced symbols are the scored targets (the first half is random).
    """
    if not 1 <= alphabet <= 26 or n_symbols < 1:
        raise ValueError(
            f"memorize: need n_symbols >= 1 and 1 <= alphabet <= 26, got {n_symbols}, {alphabet}"
        )
    rng = as_rng(seed)
    codes = (rng.integers(0, alphabet, size=(n, n_symbols)) + ord("a")).astype(np.uint8)
    texts = [(w := row.tobytes().decode()) + GO + w for row in codes]
    scored = np.tile(np.arange(2 * n_symbols + 1) > n_symbols, n)  # the reproduction
    vocab = Vocabulary([PAD, GO, *_LETTERS[:alphabet]])
    return pack_strings(texts, scored, vocab, "memorize", append_eos=False)
