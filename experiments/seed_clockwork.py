"""Clockwork RNN vs SRN, LSTM and GRU on waveform generation at an equal parameter budget
(Koutník, Greff, Gomez, Schmidhuber 2014, "A Clockwork RNN", ICML, section 4.1).

The claim: a CW-RNN generates a 320-step signal from no input with a much lower normalised
mean squared error (NMSE) than an SRN or an LSTM of about the same number of weights (the
paper compares networks of a few hundred to about a thousand weights). Here the target is
the ``waveform`` task's seeded sum of sinusoids (no audio file), every network has about
750 parameters (``model.param_budget`` sizes each cell: the zoo's 4-module CW-RNN gets about
32 units, the SRN 25, the GRU 14, the LSTM 12), and each cell is trained with Adam at the
same 2 learning rates and 3 seeds (24 trials), stopping early on the validation NMSE (0 is
exact, 1 no better than a constant). One epoch is 25 updates on the one sequence.
"""

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import Choice, load_space

EXPERIMENT = Experiment(
    name="seed_clockwork",
    description="CW-RNN vs SRN, LSTM, GRU: waveform generation NMSE at ~750 parameters",
    space=load_space("seed_clockwork"),
    task=TaskConfig(name="waveform", n_train=25),
    model=ModelConfig(num_layers=1, init_scale=None, param_budget=750),
    train=TrainConfig(optimizer="adam", lr=1e-2, lr_schedule="none", epochs=40, batch_size=1,
                      clip=1.0, patience=10, progress=False, threads=1),
    search=SearchConfig(trials=24, sampler="grid", workers=2, direction="minimize"),
    seed=1,
    smoke={"search.trials": 4, "train.epochs": 1, "task.n_train": 2, "task.seq_len": 64,
           "space.hparams": {"lr": 1e-2, "seed": 1}},
    # 8 paired settings per cell, where the exact signed-rank test, Holm-corrected over the
    # cells compared with one baseline, can reach p < 0.05 (at 6 its least p is 1/32)
    paper={"search.trials": 32,
           "space.hparams": {"lr": Choice((1e-2, 3e-2)), "seed": Choice((1, 2, 3, 4))}},
)
