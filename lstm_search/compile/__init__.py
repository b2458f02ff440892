"""The compiler: validated genome -> plan (hoisted and fused projections) -> generated source
-> kernels (eager, script, compile, native) over a layer's parameters.

It depends on :mod:`lstm_search.genome` only; the modules built on it (``compile_rnn``,
``compile_cell``, ``load_torch_weights``) live in :mod:`lstm_search.nn`.

>>> from lstm_search import zoo
>>> from lstm_search.compile import build_plan, generated_source
>>> plan = build_plan(zoo.get("lstm"), input_size=8, hidden_size=16)
>>> "def forward" in generated_source(zoo.get("lstm"))
True
"""

from lstm_search.compile._gemm import onednn_available
from lstm_search.compile._kernels import BACKENDS, clear_kernel_cache, make_kernel
from lstm_search.compile._native_build import NativeUnavailable
from lstm_search.compile._native_build import prebuild as prebuild_native
from lstm_search.compile._params import (
    block_mask,
    dense_params,
    init_parameters,
    make_parameters,
    param_map,
)
from lstm_search.compile._plan import Plan, build_plan, clock_mask
from lstm_search.compile._source import check_backend, generated_source

__all__ = [
    "BACKENDS",
    "NativeUnavailable",
    "Plan",
    "block_mask",
    "build_plan",
    "check_backend",
    "clear_kernel_cache",
    "clock_mask",
    "dense_params",
    "generated_source",
    "init_parameters",
    "make_kernel",
    "make_parameters",
    "onednn_available",
    "param_map",
    "prebuild_native",
]
