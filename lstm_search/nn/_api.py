"""Public entry points of the compiled modules: a stack (``compile_rnn``) or one layer
(``compile_cell``) of any genome."""

from __future__ import annotations

import torch

from lstm_search.compile import NativeUnavailable, build_plan, check_backend
from lstm_search.compile import prebuild_native as prebuild_native_plans
from lstm_search.genome import Genome
from lstm_search.nn._layer import RecurrentLayer
from lstm_search.nn._stack import RecurrentStack


def compile_rnn(genome: Genome, input_size: int, hidden_size: int, num_layers: int = 1,
                dropout: float = 0.0, batch_first: bool = False, backend: str = "script", *,
                fused_backward: bool = True, init_scale: float = 1.0,
                scan: bool = True, seed: int | None = None,
                tie_layers: bool | str = False,
                spatial: tuple[int, int] | None = None) -> RecurrentStack:
    """A ``torch.nn.LSTM``-shaped module of ``num_layers`` layers of ``genome``.

    ``forward(x, state=None, *, t0=0) -> (output, state)``; see
    :class:`lstm_search.nn.RecurrentStack` (a cell reading ``below:<state>``, genome format
    2, also reads the layer below's new state: ``zoo.get("depth_gated")`` gives a Depth-Gated
    stack; ``t0`` continues a clocked cell's schedule). ``backend``: ``"eager"``
    (reference), ``"script"`` (TorchScript of the generated code; with ``fused_backward`` the
    generated backward and oneDNN products on CPU) or ``"compile"`` (``torch.compile``).
    A cell whose every state is ``a_t ⊙ s + b_t`` with ``a_t``, ``b_t`` from the input alone
    (minGRU, minLSTM, HGRN, RG-LRU; ``lstm-search show`` says which path a cell gets) runs as
    a scan over the sequence in the eager and script backends; ``scan=False`` keeps the step
    loop.
    Weights start uniform in ±init_scale/sqrt(hidden_size) like torch's (``bias_init`` of a
    node respected); ``seed`` makes that draw reproducible without touching torch's global
    generator. ``tie_layers`` shares one parameter set across depth (True: all layers when
    ``input_size == hidden_size``, else layers 2..L; ``"all"``, refused when the widths differ;
    ``"above_first"``; see :class:`~lstm_search.nn.RecurrentStack`): with
    ``zoo.get("grid_lstm")`` the tied Grid LSTM. A spatial cell (genome format 2's
    ``values``: ``zoo.get("convlstm")``, Shi et al. 2015) needs ``spatial=(H, W)`` and takes
    ``input_size``, ``hidden_size`` as channels: x (T, B, m, H, W). Raises
    :class:`lstm_search.genome.GenomeError` for an invalid genome.
    """
    check_backend(backend)
    return RecurrentStack(genome, input_size, hidden_size, num_layers, dropout, batch_first,
                          backend, fused_backward=fused_backward, init_scale=init_scale,
                          scan=scan, seed=seed, tie_layers=tie_layers, spatial=spatial)


def compile_cell(genome: Genome, input_size: int, hidden_size: int, backend: str = "script", *,
                 fused_backward: bool = True, init_scale: float = 1.0,
                 scan: bool = True,
                 seed: int | None = None,
                 spatial: tuple[int, int] | None = None) -> RecurrentLayer:
    """One layer of ``genome``: ``forward(x (T, B, m), states=None) -> (y (T, B, n), states)``
    with ``states`` a tuple in the genome's state order (a spatial cell: ``spatial=(H, W)``,
    x (T, B, m, H, W), states (B, n, H, W))."""
    check_backend(backend)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    return RecurrentLayer(genome, input_size, hidden_size, backend,
                          fused_backward=fused_backward, init_scale=init_scale,
                           scan=scan, generator=gen, spatial=spatial)


def prebuild_native(genomes: list[Genome], hidden_size: int) -> float:
    """Build the native backend's libraries of ``genomes``' layers not built yet on this
    machine, as one library (torch's headers are parsed once for all of them): a layer's code
    depends on its cell and on whether its input is as wide as its hidden state, so each cell
    gets both. The seconds it took (0.0 when everything was built before, or where the native
    backend cannot run: the layers then fall back to script with their warning). Spatial
    cells, and sizes a cell refuses (heads that do not divide ``hidden_size``), are skipped."""
    plans = []
    for genome in genomes:
        if genome.kernel:
            continue
        for m in (hidden_size + 1, hidden_size):
            try:
                plans.append(build_plan(genome, m, hidden_size))
            except ValueError:
                continue
    try:
        return prebuild_native_plans(plans)
    except NativeUnavailable:
        return 0.0
