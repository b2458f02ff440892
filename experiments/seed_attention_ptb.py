"""Attention over earlier hidden states in a word-level language model: the attentive read-out
(Daniluk, Rocktäschel, Welbl & Riedel 2017, "Frustratingly Short Attention Spans in Neural
Language Modeling", ICLR) and the LSTMN's attentive gates (Cheng, Dong & Lapata 2016, section
5.1: PTB language modelling) against the LSTM and the GRU at an equal parameter budget.

The claims: Daniluk et al. report that attending over the last few outputs lowers the
perplexity of an LSTM language model (on Wikipedia and the Children's Book Test) and that the
useful span is short (5-10 words); Cheng et al. report PTB test perplexity 108 for the LSTMN
against 115 for their LSTM (their table 1). Here: one layer of each cell, about 2.7 million
parameters per model (hidden 125-129; ``model.param_budget`` sizes each: embedding, cell and
softmax head over the 10,000 words), the first 20 % of the PTB training text (about 186,000
words) and the first quarter of the validation and test text, truncated backpropagation over 35
words (the attention memory starts empty with every 35-word chunk; the window is 8), Adam at
the same 2 learning rates and 2 seeds (16 trials), at most 6 epochs with early stopping on
validation perplexity (about 45 minutes with 2 workers on two cores: an epoch takes 50-57 s per
trial). The default's 4 pairs per cell show the ranking and effect sizes but can give no
verdict (the exact signed-rank test's least two-sided p with 4 pairs is 0.125); ``--paper``'s 8
(4 seeds) can.
"""

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import Choice, load_space

EXPERIMENT = Experiment(
    name="seed_attention_ptb",
    description="attentive read-out and LSTMN-style gates vs LSTM, GRU: PTB words, "
                "perplexity at an equal parameter budget",
    space=load_space("seed_attention_ptb"),
    task=TaskConfig(name="ptb", subset=0.2, eval_subset=0.25),
    model=ModelConfig(num_layers=1, init_scale=None, param_budget=2_700_000),
    train=TrainConfig(optimizer="adam", lr=3e-3, lr_schedule="none", epochs=6, batch_size=20,
                      bptt=35, clip=1.0, patience=2, progress=False, threads=1),
    search=SearchConfig(trials=16, sampler="grid", workers=2, direction="minimize"),
    seed=1,
    smoke={"search.trials": 4, "train.epochs": 1, "task.subset": 0.002,
           "task.eval_subset": 0.01, "model.param_budget": 200_000,
           "space.hparams": {"lr": 3e-3, "seed": 1}},
    # 8 paired settings per cell, where the exact signed-rank test, Holm-corrected over the
    # cells compared with one baseline, can reach p < 0.05
    paper={"search.trials": 32,
           "space.hparams": {"lr": Choice((1e-3, 3e-3)), "seed": Choice((1, 2, 3, 4))}},
)
