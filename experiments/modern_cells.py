"""The modern recurrences against the LSTM and the GRU at an equal parameter budget: sLSTM and
mLSTM (Beck et al. 2024, xLSTM), minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"),
RG-LRU (De et al. 2024, Griffin) and HGRN (Qin et al. 2023), on selective copying.

The claims put to the test:

- Selective copying (Gu & Dao 2023, Mamba, section 3.1): copying the data tokens scattered at
  random places among noise needs a recurrence whose gates depend on the input (time-invariant
  SSMs such as S4 fail it); Feng et al. 2024 (section 4.1, table 2) report that three-layer
  minGRU and minLSTM, whose gates read only the input, solve it as Mamba's S6 does.
- Multi-query associative recall (Arora et al. 2023, Zoology): attention-free recurrent models
  leave a gap to attention at recall, growing with the number of key-value pairs and shrinking
  only with a larger state, so the cells' state size at an equal parameter budget matters.
- Parity with longer test strings (Delétang et al. 2023): the LSTM generalises to longer
  strings; recurrences that are affine in their state with gates in (0, 1) (minGRU, minLSTM,
  RG-LRU, HGRN) cannot track parity at all (Grazzi et al. 2024, Merrill et al. 2024).

Every model has about 20,000 parameters (``model.param_budget`` sizes each cell: hidden 48 for
the LSTM and sLSTM, 55 for the GRU, 68 for mLSTM (one head: a 68×68 matrix memory), 78 for
minLSTM and HGRN, 94 for minGRU and RG-LRU); one layer, the cell alone (no Conv1D, gated MLP
or norm block around it); Adam at a learning rate shared by every cell, clipping 1, early
stopping on validation accuracy; 3 seeds per cell.
The default, cut for two CPU cores: selective copying of 8 tokens from 8 symbols in 64 steps,
4,000 training sequences, at most 12 epochs (24 trials, about 20 minutes with ``--workers 2``:
the mLSTM's three took half of it while its step loop was differentiated op by op, 0.53 s per
batch of 64 sequences of 64 steps against the sLSTM's 0.09 s on one thread; its chunkwise path
now takes 0.032 s, against 0.25 s for its step loop on the same Intel Xeon: the layer's
forward + backward alone, hidden 68);
chance is 1/8. ``--paper``: the task's own 256 steps, 16 tokens and 16 symbols (Gu & Dao use
4,096 steps), two layers at 100,000 parameters, three learning rates, 20,000 sequences, 40
epochs (72 trials).

The report pairs the cells by setting (learning rate and seed). The default's 3 pairs per
cell show the ranking and effect sizes but can give no verdict: the exact signed-rank test's
smallest two-sided p with 3 pairs is 0.25. ``--paper``'s 9 pairs can (8 is the fewest whose
smallest p, 2/2^8, stays below 0.05 after Holm's correction over the 7 cells compared).

The same grid on the other tasks (unset the options the task does not take)::

    lstm-search run modern_cells --set task.name=mqar --set task.n_copy=none \\
        --set task.vocab_size=16 --set task.n_pairs=4 --set task.seq_len=32
    lstm-search run modern_cells --set task.name=parity --set task.n_copy=none \\
        --set task.vocab_size=none --set task.seq_len=40 --set task.test_len=100
    lstm-search run modern_cells --set task.name=ptb --set task.n_copy=none \\
        --set task.vocab_size=none --set task.seq_len=none --set task.n_train=none \\
        --set task.n_valid=none --set task.n_test=none --set search.direction=minimize \\
        --set model.param_budget=6000000

Parity is validated (and early-stopped) on the longer strings (lengths 41-100), so the score
is length generalisation itself; ``task.modulus=3`` counts modulo 3. PTB (word level, valid
perplexity, minimised) needs ``search.direction=minimize`` and a budget that holds its
10,000-word embedding and decoder (6M parameters leave each cell about 270-300 units).
Compare the cells with ``lstm-search report RUN_DIR --baseline lstm,gru`` (paired by seed).
"""

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import Choice, load_space

EXPERIMENT = Experiment(
    name="modern_cells",
    description="LSTM, GRU, sLSTM, mLSTM, minGRU, minLSTM, RG-LRU, HGRN at equal parameters "
                "(selective copying; MQAR, parity, PTB by --set)",
    space=load_space("modern_cells"),
    task=TaskConfig(name="selective_copy", n_copy=8, vocab_size=8, seq_len=64, n_train=4000,
                    n_valid=500, n_test=500),
    model=ModelConfig(num_layers=1, init_scale=None, param_budget=20_000),
    train=TrainConfig(optimizer="adam", lr=3e-3, lr_schedule="none", epochs=12, batch_size=64,
                      clip=1.0, patience=6, progress=False, threads=1),
    search=SearchConfig(trials=24, sampler="grid", workers=2, direction="maximize"),
    seed=1,
    smoke={"search.trials": 3, "train.epochs": 1, "task.n_train": 256, "task.n_valid": 64,
           "task.n_test": 64, "space.hparams": {"lr": Choice((3e-3,)), "seed": 1}},
    paper={"search.trials": 72, "train.epochs": 40, "train.patience": 8, "model.num_layers": 2,
           "model.param_budget": 100_000,
           "task.n_copy": 16, "task.vocab_size": 16, "task.seq_len": 256,
           "task.n_train": 20_000, "task.n_valid": 1000, "task.n_test": 1000,
           "space.hparams": {"lr": Choice((1e-3, 3e-3, 1e-2)), "seed": Choice((1, 2, 3))}},
)
