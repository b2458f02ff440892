"""The compiler: validated genome -> plan (hoisted and fused projections) -> generated source
-> backend (eager, script, compile).

>>> from lstm_search import zoo
>>> from lstm_search.compile import compile_rnn
>>> rnn = compile_rnn(zoo.get("lstm"), input_size=8, hidden_size=16, num_layers=2)
>>> import torch
>>> y, (h, c) = rnn(torch.zeros(5, 3, 8))
>>> tuple(y.shape), tuple(h.shape)
((5, 3, 16), (2, 3, 16))
"""

from lstm_search.compile._api import compile_cell, compile_rnn, generated_source
from lstm_search.compile._kernels import BACKENDS
from lstm_search.compile._plan import Plan, build_plan
from lstm_search.compile._torch_weights import load_torch_weights

__all__ = [
    "BACKENDS",
    "Plan",
    "build_plan",
    "compile_cell",
    "compile_rnn",
    "generated_source",
    "load_torch_weights",
]
