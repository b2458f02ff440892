"""lstm-search: find and compare recurrent cells.

A cell is a :class:`Genome` (a small graph of gates and pointwise ops); :func:`compile_rnn` turns
it into a PyTorch module; searches write :class:`TrialResult` rows that :func:`load_results`
reads back as a pandas DataFrame.

Nothing heavy happens at import: names are resolved lazily, so ``import lstm_search`` does not
import torch, ray, optuna, seaborn or matplotlib.

Layers: which package (or top-level module) of ``lstm_search`` may import which, counting
imports inside functions too. Nothing imports another package's ``_private`` modules or names;
this package's ``__init__`` (the lazy names above) and ``cli`` may import anything, and
``tests/test_imports.py`` holds the code to this table::

    genome        -> (nothing)
    zoo           -> genome
    compile       -> genome
    nn            -> compile, genome, zoo
    config        -> (nothing)
    checkpoint    -> (nothing)
    data          -> (nothing)
    tasks         -> config, data, nn
    train         -> checkpoint, config, nn, tasks
    evaluate      -> config, genome, nn, provenance, results, tasks, train
    results       -> (nothing)
    provenance    -> compile
    declarations  -> (nothing)
    catalogue     -> (nothing)
    spaces        -> declarations, genome, zoo
    experiment    -> config, declarations, genome, results, spaces
    suite         -> config, declarations
    search        -> config, data, evaluate, experiment, genome, provenance, results, spaces,
                     suite, tasks, train, zoo
    analysis      -> genome, results, suite, zoo
    bench         -> compile, genome, nn, zoo
    __main__      -> cli

``nn -> zoo``: :func:`~lstm_search.nn.load_torch_weights` checks a module against the zoo's
lstm / gru / rnn_tanh. ``experiment -> results``: the overrides are written to ``run.json`` with
the table's JSON encoding. ``analysis -> genome``: cell diagrams read the recorded genomes
(genome needs no torch); ``analysis -> zoo``: a zoo cell is drawn with its own node names.
Any module may read ``__version__`` from this package.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Genome": "lstm_search.genome",
    "Node": "lstm_search.genome",
    "GenomeError": "lstm_search.genome",
    "validate": "lstm_search.genome",
    "genome_id": "lstm_search.genome",
    "import_nasbench_nlp": "lstm_search.genome",
    "import_darts": "lstm_search.genome",
    "zoo": "lstm_search.zoo",
    "compile_rnn": "lstm_search.nn",
    "compile_cell": "lstm_search.nn",
    "load_torch_weights": "lstm_search.nn",
    "TrialResult": "lstm_search.results",
    "ResultsWriter": "lstm_search.results",
    "load_results": "lstm_search.results",
    "Experiment": "lstm_search.experiment",
    "load_experiment": "lstm_search.experiment",
    "run_experiment": "lstm_search.search",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lstm_search' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if module.endswith("." + name) else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
