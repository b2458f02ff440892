"""Synthetic tasks, generated from a seed, no files.

Each generator is ``generator(n, seed, **params) -> SyntheticSplit`` (``seed``: an int or a
``numpy.random.Generator``; no global random state). :func:`synthetic_splits` draws fixed
train/valid/test splits of a named task from one seed.

==============  ========  ==================================================================
name            kind      task
==============  ========  ==================================================================
arithmetic      lm        Jozefowicz et al. 2015: ``a±b`` with distractor letters, answer scored
xml             lm        Jozefowicz et al. 2015: nested random tags, closing tags scored
memorize        lm        Jozefowicz et al. 2015: read 5 of 26 symbols, reproduce them
adding          regress   Hochreiter & Schmidhuber 1997: sum of the two marked values
recall          classify  the first token, named after a gap of ``lag`` distractors
mqar            tag       Arora et al. 2023 (Zoology): key-value pairs, then queries of keys
selective_copy  tag       Gu & Dao 2023 (Mamba): scattered data tokens, copied after markers
parity          tag       Delétang et al. 2023: ones modulo m, tested on longer strings
waveform        series    Koutník et al. 2014: output a fixed waveform without input
==============  ========  ==================================================================

``parity``'s splits differ in length (``seq_len`` for training, ``test_len`` for valid and
test, see :func:`parity_split_params`); ``waveform`` holds the same signal in every split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from lstm_search.data.synthetic._split import (
    PER_STEP_KINDS,
    SyntheticSplit,
    SyntheticSplits,
    as_rng,
    make_splits,
)
from lstm_search.data.synthetic.associative import mqar, selective_copy
from lstm_search.data.synthetic.counting import parity, parity_split_params
from lstm_search.data.synthetic.generation import waveform, waveform_signal
from lstm_search.data.synthetic.jozefowicz import arithmetic, memorize, xml
from lstm_search.data.synthetic.long_lag import adding, recall

__all__ = [
    "PER_STEP_KINDS",
    "SYNTHETIC_TASKS",
    "SyntheticSplit",
    "SyntheticSplits",
    "adding",
    "arithmetic",
    "as_rng",
    "make_splits",
    "memorize",
    "mqar",
    "parity",
    "parity_split_params",
    "recall",
    "selective_copy",
    "synthetic_splits",
    "waveform",
    "waveform_signal",
    "xml",
]

SYNTHETIC_TASKS: dict[str, Callable[..., SyntheticSplit]] = {
    "arithmetic": arithmetic,
    "xml": xml,
    "memorize": memorize,
    "adding": adding,
    "recall": recall,
    "mqar": mqar,
    "selective_copy": selective_copy,
    "parity": parity,
    "waveform": waveform,
}
# tasks whose options give each split its own generator parameters: options -> (train, valid,
# test) parameters
_SPLIT_PARAMS: dict[str, Callable[..., tuple[dict[str, Any], ...]]] = {
    "parity": parity_split_params,
}
_SAME_IN_EVERY_SPLIT = frozenset({"waveform"})  # no input: the one target is also the test


def synthetic_splits(
    name: str,
    seed: int = 0,
    sizes: Sequence[int] = (10_000, 1_000, 1_000),
    **params: Any,
) -> SyntheticSplits:
    """Fixed train/valid/test splits of task ``name`` (see the table above) from ``seed``.

    ``params`` go to the generator (e.g. ``lag=200`` for recall, ``length=400`` for adding);
    for parity they are ``seq_len``, ``test_len`` and ``modulus`` (:func:`parity_split_params`).
    """
    try:
        generator = SYNTHETIC_TASKS[name]
    except KeyError:
        raise ValueError(
            f"unknown synthetic task {name!r}; known: {', '.join(SYNTHETIC_TASKS)}"
        ) from None
    if name in _SPLIT_PARAMS:
        per_split = _SPLIT_PARAMS[name](**params)
        splits = make_splits(generator, seed, sizes, split_params=per_split)
        return dataclasses.replace(splits, params=dict(params))
    return make_splits(generator, seed, sizes, same_data=name in _SAME_IN_EVERY_SPLIT, **params)
