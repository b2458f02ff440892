"""Jozefowicz, Zaremba & Sutskever 2015: evolutionary search over cells, relative to the GRU.

A population of the best cells (seeded with the LSTM and the GRU, each tuned first on
``search.seed_evals`` random settings, the GRU's best being the reference); each step either
re-evaluates a member with new random hyperparameters or evaluates a mutant of one (the paper's six
mutation operators). Candidates are filtered in stages: memorisation first, then arithmetic
and XML modelling, stopping unless within the stage's fraction of the GRU; the final task is
PTB. Fitness = min over tasks of (the cell's result / the GRU's best).

The paper asks memorisation for 95 % absolute accuracy; here the first stage asks 95 % of the
GRU's accuracy. The default is a short search for two CPU cores (24 evaluations, the seeds
tuned on 5 settings each, a population of 6, 4,000 memorisation sequences and 1,000 for each
later filtering task, a 5 % slice of PTB, at most 6 epochs); ``--paper``: 10,000
evaluations, seeds tuned on 20 settings, a population of 100, 10,000 sequences per stage, full
PTB and the preset's 40 epochs.
"""

import dataclasses

from lstm_search.config import TaskConfig, preset
from lstm_search.experiment import Experiment, SearchConfig, Stage
from lstm_search.spaces import load_space

_model, _train = preset("jozefowicz")

EXPERIMENT = Experiment(
    name="jozefowicz",
    description="Evolutionary search (Jozefowicz et al. 2015) with staged filtering",
    space=load_space("jozefowicz"),
    stages=(
        Stage(TaskConfig(name="memorize", n_train=4000, n_valid=200, n_test=200), 0.95),
        # within search.gru_fraction (90 %) of the GRU
        Stage(TaskConfig(name="arithmetic", n_train=1000, n_valid=200, n_test=200)),
        Stage(TaskConfig(name="xml", seq_len=30, n_train=1000, n_valid=200, n_test=200)),
    ),
    task=TaskConfig(name="ptb", subset=0.05, eval_subset=0.2),
    model=_model,
    train=dataclasses.replace(_train, epochs=6, patience=3, progress=False, threads=1),
    search=SearchConfig(trials=24, sampler="evolution", population=6, reeval_prob=0.3,
                        seed_evals=5, direction="maximize"),
    seed=1,
    smoke={"search.trials": 5, "search.population": 3, "search.seed_evals": 1,
           "train.epochs": 1, "task.subset": 0.01, "task.eval_subset": 0.02,
           "model.hidden_size": 16, "train.bptt": 10, "train.patience": "none",
           "stages.task.n_train": 200, "stages.task.n_valid": 50,
           "stages.task.n_test": 50},
    paper={"search.trials": 10000, "search.population": 100, "search.seed_evals": 20,
           "train.epochs": 40, "train.patience": 7, "task.subset": None, "task.eval_subset": None,
           "stages.task.n_train": 10000, "stages.task.n_valid": 1000,
           "stages.task.n_test": 1000},
)
