"""The attentive LSTM's comparison: the zoo's ``lstm_attention`` (an LSTM whose gates read an
attention context over its last 8 hidden states, after Cheng et al. 2016's LSTMN) against
the LSTM and the GRU on multi-query associative recall, every cell at the same learning rates
and seeds (a paired grid: cells x ``lr`` x ``seed``)."""

from lstm_search.spaces import CellChoiceSpace, Choice

SPACE = CellChoiceSpace(
    name="seed_attention",
    cells=("lstm_attention", "lstm", "gru"),
    hparams={"lr": Choice((3e-3, 1e-2)), "seed": Choice((1, 2))},
)
