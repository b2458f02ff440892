"""Jozefowicz, Zaremba & Sutskever 2015, table 1: LSTM, LSTM-b, LSTM-f, GRU and MUT1-3 on the
Arithmetic task (next-symbol accuracy on the answer, higher is better); the same run on XML
modelling is ``--set task.name=xml --set task.seq_len=30``.

Every cell is trained at the same random settings of learning rate, clipping and
initialisation scale (the paper's ranges); the paper reports each cell's best of 20 settings.
The default is cut for two CPU cores: 3 settings per cell, 2,000 training sequences, at most
12 epochs. ``--paper``: 20 settings, 20,000 sequences, the preset's 40 epochs.
"""

import dataclasses

from lstm_search.config import TaskConfig, preset
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import load_space

_model, _train = preset("jozefowicz")

EXPERIMENT = Experiment(
    name="jozefowicz_cells",
    description="Jozefowicz et al. 2015's cells on Arithmetic / XML (next-symbol accuracy)",
    space=dataclasses.replace(load_space("jozefowicz_cells"), settings=3),
    task=TaskConfig(name="arithmetic", n_train=2000, n_valid=300, n_test=300),
    model=_model,
    train=dataclasses.replace(_train, epochs=12, patience=4, progress=False, threads=1),
    search=SearchConfig(trials=21, sampler="grid", workers=2, direction="maximize"),
    seed=1,
    smoke={"search.trials": 3, "space.settings": 1, "train.epochs": 1, "task.n_train": 100,
           "task.n_valid": 20, "task.n_test": 20, "model.hidden_size": 16},
    paper={"search.trials": 140, "space.settings": 20, "train.epochs": 40, "train.patience": 7,
           "task.n_train": 20000, "task.n_valid": 1000, "task.n_test": 1000},
)
