"""Synthetic tasks, generated from a seed, no files.

Each generator is ``generator(n, seed, **params) -> SyntheticSplit`` (``seed``: an int or a
``numpy.random.Generator``; no global random state). :func:`synthetic_splits` draws fixed
train/valid/test splits of a named task from one seed.

=============  ========  ===================================================================
name           kind      task
=============  ========  ===================================================================
arithmetic     lm        Jozefowicz et al. 2015: ``a±b`` with distractor letters, answer scored
xml            lm        Jozefowicz et al. 2015: nested random tags, closing tags scored
memorize       lm        Jozefowicz et al. 2015: read 5 of 26 symbols, reproduce them
adding         regress   Hochreiter & Schmidhuber 1997: sum of the two marked values
recall         classify  the first token, named after a gap of ``lag`` distractors
=============  ========  ===================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lstm_search.data.synthetic._split import (
    SyntheticSplit,
    SyntheticSplits,
    as_rng,
    make_splits,
)
from lstm_search.data.synthetic.jozefowicz import arithmetic, memorize, xml
from lstm_search.data.synthetic.long_lag import adding, recall

__all__ = [
    "SYNTHETIC_TASKS",
    "SyntheticSplit",
    "SyntheticSplits",
    "adding",
    "arithmetic",
    "as_rng",
    "make_splits",
    "memorize",
    "recall",
    "synthetic_splits",
    "xml",
]

SYNTHETIC_TASKS: dict[str, Callable[..., SyntheticSplit]] = {
    "arithmetic": arithmetic,
    "xml": xml,
    "memorize": memorize,
    "adding": adding,
    "recall": recall,
}


def synthetic_splits(
    name: str,
    seed: int = 0,
    sizes: Sequence[int] = (10_000, 1_000, 1_000),
    **params: Any,
) -> SyntheticSplits:
    """Fixed train/valid/test splits of task ``name`` (see the table above) from ``seed``.

    ``params`` go to the generator (e.g. ``lag=200`` for recall, ``length=400`` for adding).
    """
    try:
        generator = SYNTHETIC_TASKS[name]
    except KeyError:
        raise ValueError(
            f"unknown synthetic task {name!r}; known: {', '.join(SYNTHETIC_TASKS)}"
        ) from None
    return make_splits(generator, seed, sizes, **params)
