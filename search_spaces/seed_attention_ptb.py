"""The attentive read-out's comparison on word-level PTB: the zoo's ``lstm_attentive_readout``
(an LSTM whose output attends over its last 8 outputs, Daniluk et al. 2017) and
``lstm_attention`` (whose gates do, after Cheng et al. 2016's LSTMN) against the LSTM and the
GRU, every cell at the same learning rates and seeds (a paired grid: cells x ``lr`` x
``seed``)."""

from lstm_search.spaces import CellChoiceSpace, Choice

SPACE = CellChoiceSpace(
    name="seed_attention_ptb",
    cells=("lstm_attentive_readout", "lstm_attention", "lstm", "gru"),
    hparams={"lr": Choice((1e-3, 3e-3)), "seed": Choice((1, 2))},
)
