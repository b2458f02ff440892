"""Tied Grid LSTM vs deep LSTM and GRU stacks on parity at an equal parameter budget
(Kalchbrenner, Danihelka, Graves 2015, "Grid Long Short-Term Memory", arXiv:1507.01526,
section 4.1; the length-generalisation split of Delétang et al. 2023).

The claim: a Grid LSTM whose blocks are LSTMs along depth as well as time, with its weights
tied across depth, learns parity with a deep network where stacked LSTMs of the same
parameter count fail (the LSTM along depth keeps the gradient through many layers). Here:
4-layer stacks, every one tied across depth (``model.tie_layers = "auto"``: all 4 layers
share one parameter set, since the embedding is as wide as the hidden layer), each model about
2,000 parameters (``model.param_budget``), trained on bit strings of up to 20 bits and
validated on strings of 21-40 bits (chance 1/2). ``model.tie_layers`` is one setting for the
study, so the LSTM and GRU stacks are tied as well: the comparison is between cells at the
same tied depth. Each cell is trained with Adam at the same 2 learning rates and 2 seeds
(12 trials), stopping early on validation accuracy.
"""

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import Choice, load_space

EXPERIMENT = Experiment(
    name="seed_grid",
    description="Tied Grid LSTM vs tied LSTM, GRU stacks (4 layers): parity length "
                "generalisation at ~2,000 parameters",
    space=load_space("seed_grid"),
    task=TaskConfig(name="parity", seq_len=20, test_len=40, n_train=4_000, n_valid=500,
                    n_test=500),
    model=ModelConfig(num_layers=4, init_scale=None, param_budget=2_000, tie_layers="auto"),
    train=TrainConfig(optimizer="adam", lr=1e-2, lr_schedule="none", epochs=15, batch_size=64,
                      clip=1.0, patience=5, progress=False, threads=1),
    search=SearchConfig(trials=12, sampler="grid", workers=2, direction="maximize"),
    seed=1,
    smoke={"search.trials": 3, "train.epochs": 1, "task.n_train": 128, "task.n_valid": 32,
           "task.n_test": 32, "space.hparams": {"lr": 1e-2, "seed": 1}},
    # 8 paired settings per cell, where the exact signed-rank test, Holm-corrected over the
    # cells compared with one baseline, can reach p < 0.05 (at 6 its least p is 1/32)
    paper={"search.trials": 24,
           "space.hparams": {"lr": Choice((3e-3, 1e-2)), "seed": Choice((1, 2, 3, 4))}},
)
