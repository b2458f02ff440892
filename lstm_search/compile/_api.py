"""Public entry points of the compiler."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lstm_search.compile._codegen import program_source
from lstm_search.compile._kernels import BACKENDS
from lstm_search.compile._plan import build_plan
from lstm_search.genome import Genome

if TYPE_CHECKING:
    from lstm_search.nn import RecurrentLayer, RecurrentStack


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def compile_rnn(genome: Genome, input_size: int, hidden_size: int, num_layers: int = 1,
                dropout: float = 0.0, batch_first: bool = False, backend: str = "script", *,
                fused_backward: bool = True, init_scale: float = 1.0,
                seed: int | None = None) -> RecurrentStack:
    """A ``torch.nn.LSTM``-shaped module of ``num_layers`` layers of ``genome``.

    ``forward(x, state=None) -> (output, state)``; see
    :class:`lstm_search.nn.RecurrentStack`. ``backend``: ``"eager"`` (reference), ``"script"``
    (TorchScript of the generated code; with ``fused_backward`` the generated backward and
    oneDNN products on CPU) or ``"compile"`` (``torch.compile``). Weights start uniform in
    ±init_scale/sqrt(hidden_size) like torch's (``bias_init`` of a node respected); ``seed``
    makes that draw reproducible without touching torch's global generator.
    Raises :class:`lstm_search.genome.GenomeError` for an invalid genome.
    """
    from lstm_search.nn import RecurrentStack

    _check_backend(backend)
    return RecurrentStack(genome, input_size, hidden_size, num_layers, dropout, batch_first,
                          backend, fused_backward=fused_backward, init_scale=init_scale,
                          seed=seed)


def compile_cell(genome: Genome, input_size: int, hidden_size: int, backend: str = "script", *,
                 fused_backward: bool = True, init_scale: float = 1.0,
                 seed: int | None = None) -> RecurrentLayer:
    """One layer of ``genome``: ``forward(x (T, B, m), states=None) -> (y (T, B, n), states)``
    with ``states`` a tuple in the genome's state order."""
    import torch

    from lstm_search.nn import RecurrentLayer

    _check_backend(backend)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    return RecurrentLayer(genome, input_size, hidden_size, backend,
                          fused_backward=fused_backward, init_scale=init_scale, generator=gen)


def generated_source(genome: Genome, backend: str = "script", *, input_size: int = 2,
                     hidden_size: int = 1, fused_backward: bool = True,
                     onednn: bool = False) -> str:
    """The source the compiler generates for one layer of ``genome``.

    For ``script`` this is exactly what TorchScript compiles (with the oneDNN branch of ``_mm``
    when ``onednn``); ``eager`` and ``compile`` interpret the same plan op by op, so the same
    text describes them. Sizes only matter for ``fit`` of x (a matrix unless m == n).
    """
    _check_backend(backend)
    plan = build_plan(genome, input_size, hidden_size)
    return program_source(plan, onednn=onednn, backward=fused_backward)
