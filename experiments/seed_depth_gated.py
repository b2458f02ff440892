"""Depth-Gated LSTM vs stacked LSTM and GRU on character-level PTB at an equal parameter
budget (Yao, Cohn, Vylomova, Duh, Dyer 2015, "Depth-Gated Recurrent Neural Networks",
arXiv:1508.03790, section 3).

The claim: a depth gate that links the memory cell of layer l − 1 to that of layer l lets a
deep stack train better than a plain stacked LSTM of the same size (the paper reports lower
perplexity for 3-layer DGLSTMs than for 3-layer LSTMs on Chinese-English translation's
language model and BOLT). Here: 3-layer stacks of each cell, about 60,000 parameters per
model (``model.param_budget`` sizes each: embedding, stack and softmax head), characters of
the Penn Treebank (Mikolov's ``ptb.char.*`` files, 50 symbols) with the first 5 % of the
training text (about 250,000 characters) and the first quarter of the validation and test
text (about 100,000 characters each), truncated backpropagation over 100 characters, Adam at
the same 2 learning rates and 2 seeds (12 trials), at most 8 epochs with early stopping on
validation bits per character. The first layer of a Depth-Gated stack has no layer below
(its depth input is zero: a peephole LSTM).
"""

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import Choice, load_space

EXPERIMENT = Experiment(
    name="seed_depth_gated",
    description="Depth-Gated LSTM vs LSTM, GRU (3-layer stacks): PTB characters, bits per "
                "character at ~60,000 parameters",
    space=load_space("seed_depth_gated"),
    task=TaskConfig(name="ptb_char", subset=0.05, eval_subset=0.25),
    model=ModelConfig(num_layers=3, init_scale=None, param_budget=60_000),
    train=TrainConfig(optimizer="adam", lr=1e-2, lr_schedule="none", epochs=8, batch_size=32,
                      bptt=100, clip=1.0, patience=3, progress=False, threads=1),
    search=SearchConfig(trials=12, sampler="grid", workers=2, direction="minimize"),
    seed=1,
    smoke={"search.trials": 3, "train.epochs": 1, "task.subset": 0.002,
           "task.eval_subset": 0.01, "space.hparams": {"lr": 1e-2, "seed": 1}},
    # 8 paired settings per cell, where the exact signed-rank test, Holm-corrected over the
    # cells compared with one baseline, can reach p < 0.05 (at 6 its least p is 1/32)
    paper={"search.trials": 24,
           "space.hparams": {"lr": Choice((3e-3, 1e-2)), "seed": Choice((1, 2, 3, 4))}},
)
