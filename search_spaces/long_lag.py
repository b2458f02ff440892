"""The long time-lag claim (Hochreiter & Schmidhuber 1997; Gers et al. 2000): the cue of the
recall task must be named after ``gap`` distractors. The plain tanh RNN, PyTorch's LSTM (forget
gate, biases initialised like torch.nn.LSTM), LSTM-b (forget-gate bias 1, Jozefowicz et al.
2015), Greff's NFG (no forget gate: the constant error carousel of the 1997 LSTM) and the GRU,
every cell at every gap (``task.gap``)."""

from lstm_search.spaces import CellChoiceSpace, Choice

GAPS = (10, 20, 40, 80)

SPACE = CellChoiceSpace(
    name="long_lag",
    cells=("rnn_tanh", "lstm", "lstm_b", "nfg", "gru"),
    hparams={"task.gap": Choice(GAPS), "seed": Choice((1,))},
)
