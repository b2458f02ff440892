"""Searches over cells and hyperparameters with Optuna or Ray Tune, one results table.

>>> from lstm_search.search import run_experiment            # doctest: +SKIP
>>> out = run_experiment("quickstart", smoke=True)            # doctest: +SKIP
>>> out.run_dir                                               # doctest: +SKIP
PosixPath('results/quickstart/smoke-20260101-120000')

Backends: ``optuna`` (one process or N worker processes on one study; SQLite, journal file or a
database server as storage) and ``ray`` (Ray Tune's Tuner with OptunaSearch and ASHA, locally or
on a cluster). The evolutionary strategy of Jozefowicz et al. 2015 runs on Optuna's ask/tell,
a plug-in (:mod:`lstm_search.search._strategy`) that registers itself for
``search.sampler = "evolution"`` when this package is imported.
"""

from lstm_search.search._dedup import find_reusable, result_key
from lstm_search.search._progress import ProgressMonitor, Summary, progress_line, summarise
from lstm_search.search._run import BACKENDS, RunOutcome, run_experiment
from lstm_search.search._suite import SuiteOutcome, run_suite, suite_resume_command
from lstm_search.search._trial import run_trial
from lstm_search.search.evolution import EvolutionStrategy  # registers "evolution"

__all__ = [
    "BACKENDS",
    "EvolutionStrategy",
    "ProgressMonitor",
    "RunOutcome",
    "SuiteOutcome",
    "Summary",
    "find_reusable",
    "progress_line",
    "result_key",
    "run_experiment",
    "run_suite",
    "run_trial",
    "suite_resume_command",
    "summarise",
]
