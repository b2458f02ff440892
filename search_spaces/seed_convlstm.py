"""The convolutional LSTM's comparison (Shi et al. 2015, section 4.1): the ConvLSTM (the zoo's
``convlstm``) against the FC-LSTM (the zoo's ``lstm`` over flattened frames) on next-frame
prediction, every cell at the same learning rates and seeds (a paired grid: cells x ``lr`` x
``seed``)."""

from lstm_search.spaces import CellChoiceSpace, Choice

SPACE = CellChoiceSpace(
    name="seed_convlstm",
    cells=("convlstm", "lstm"),
    hparams={"lr": Choice((3e-3, 1e-2)), "seed": Choice((1, 2))},
)
