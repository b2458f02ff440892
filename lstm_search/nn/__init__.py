"""Layers and stacks generic over any compiled cell (and task models built on them):
:func:`compile_rnn` / :func:`compile_cell` build them from a genome, :func:`load_torch_weights`
copies ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` weights into the zoo's matching cell;
:class:`LSTM`, :class:`GRU`, :class:`RNN` are drop-in replacements for torch's, and
:class:`Recurrent` gives any genome the same interface (bidirectional, packed sequences ...).

>>> from lstm_search import zoo
>>> from lstm_search.nn import compile_rnn
>>> rnn = compile_rnn(zoo.get("lstm"), input_size=8, hidden_size=16, num_layers=2)
>>> import torch
>>> y, (h, c) = rnn(torch.zeros(5, 3, 8))
>>> tuple(y.shape), tuple(h.shape)
((5, 3, 16), (2, 3, 16))
"""

from lstm_search.nn._api import compile_cell, compile_rnn, prebuild_native
from lstm_search.nn._dropin import GRU, LSTM, RNN, Recurrent, without_bias
from lstm_search.nn._export import export_torch, exported_state_dict
from lstm_search.nn._layer import RecurrentLayer
from lstm_search.nn._models import (
    FramePredictor,
    LanguageModel,
    NextStepClassifier,
    PianoRollModel,
    RecurrentModel,
    SequenceClassifier,
    SequenceRegressor,
    StepRegressor,
    detach_state,
)
from lstm_search.nn._script import to_torchscript
from lstm_search.nn._stack import RecurrentStack
from lstm_search.nn._torch_weights import load_torch_weights

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "FramePredictor",
    "LanguageModel",
    "NextStepClassifier",
    "PianoRollModel",
    "Recurrent",
    "RecurrentLayer",
    "RecurrentModel",
    "RecurrentStack",
    "SequenceClassifier",
    "SequenceRegressor",
    "StepRegressor",
    "compile_cell",
    "compile_rnn",
    "detach_state",
    "export_torch",
    "exported_state_dict",
    "load_torch_weights",
    "prebuild_native",
    "to_torchscript",
    "without_bias",
]
