"""LSTM with attention over its own hidden states vs LSTM and GRU on associative recall at an
equal parameter budget (Cheng, Dong & Lapata 2016, "Long Short-Term Memory-Networks for
Machine Reading", EMNLP; the task: Arora et al. 2023, "Zoology", section 3.1).

The claim: an LSTM that attends over a tape of its earlier hidden states (the LSTMN) keeps
more of the past available than the LSTM's single state vector, and attention is what
solves multi-query associative recall (MQAR) in Zoology, where recurrent models of a small
state fall behind. Here: 4 key-value pairs over 32 symbols, then a query for every key in
16 steps; the zoo's ``lstm_attention`` attends over its last 8 hidden states. Every model
has about 10,000 parameters (``model.param_budget``), and each cell is trained with Adam at
the same 2 learning rates and 2 seeds (12 trials) for up to 30 epochs, stopping after 10
without a better validation accuracy. Guessing among the 16 values scores 1/16; guessing among
the 4 values the context holds scores 1/4, where a model that has not learnt the pairing
stays (a plateau of several epochs even for a model that then learns it).
"""

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import Choice, load_space

EXPERIMENT = Experiment(
    name="seed_attention",
    description="LSTM with attention vs LSTM, GRU: MQAR accuracy at ~10,000 parameters",
    space=load_space("seed_attention"),
    task=TaskConfig(name="mqar", vocab_size=32, n_pairs=4, seq_len=16, n_train=10_000,
                    n_valid=500, n_test=500),
    model=ModelConfig(num_layers=1, init_scale=None, param_budget=10_000),
    train=TrainConfig(optimizer="adam", lr=1e-2, lr_schedule="none", epochs=30, batch_size=64,
                      clip=1.0, patience=10, progress=False, threads=1),
    search=SearchConfig(trials=12, sampler="grid", workers=2, direction="maximize"),
    seed=1,
    smoke={"search.trials": 3, "train.epochs": 1, "task.n_train": 256, "task.n_valid": 64,
           "task.n_test": 64, "space.hparams": {"lr": 1e-2, "seed": 1}},
    # 8 paired settings per cell, where the exact signed-rank test, Holm-corrected over the
    # cells compared with one baseline, can reach p < 0.05 (at 6 its least p is 1/32)
    paper={"search.trials": 24,
           "space.hparams": {"lr": Choice((3e-3, 1e-2)), "seed": Choice((1, 2, 3, 4))}},
)
