"""Parameters of one compiled layer: shapes, readable names, initialisation.

Names come from the plan, never from genome strings:

* ``weight_x`` (Kx·n, m), ``bias_x``: every projection of the input, fused (hoisted);
* ``weight_s{j}`` (K·n, n), ``bias_s{j}``: every projection of previous state j (the j-th of the
  genome's states), fused;
* ``weight_v{k}``, ``bias_v{k}``: projections of the value of node k (topological position);
* ``diag_v{k}`` (n,): the diagonal weight (peephole) of diag node k;
* ``blocks{h}_s{j}`` (K, h, n/h, n/h), ``bias{h}_s{j}``: head-wise projections (``heads=h``)
  of previous state j (``_v{k}`` for a node's value): K block-diagonal matrices, each given by
  its h blocks; their "rows" in :func:`param_map` index the first dimension (one per node);
* ``key_v{k}`` (n, n) and ``score_v{k}`` (n,): attention node k's key projection W_k and
  score vector v (format 2, :mod:`lstm_search.genome._ops`);
* ``hweight_v{k}`` (h, width) and ``hbias_v{k}`` (h,): head_linear node k's one row (and
  bias) per head of a head-wise cell (format 2; xLSTM's input and forget gates, Beck et al.
  2024, eq. 19-27);
* ``weight_s{j}_tri{g}`` (format 2, ``blocks = g``): projections whose matrices are block upper
  triangular over g modules, stored packed: only the entries of the blocks on and above the
  diagonal, row by row of the fused (K·n, n) matrix (:func:`block_mask`);
  :func:`dense_params` unpacks them for the kernels;
* ``weight_<source>_m<owner>`` (format 2's variational dropout, ``owner`` ``x`` or ``s{i}``):
  projections whose input is multiplied by that owner's dropout mask, e.g. ``weight_x_mx``,
  ``weight_s0_ms0``, ``weight_v5_ms0`` (a masked and an unmasked projection of one source
  are two groups).

Rows of a fused weight are ``n`` per projection, projections with a bias first; a bias covers
only those rows. :func:`param_map` tells which node owns which rows.

A spatial plan (:attr:`Plan.kernel` > 0) has conv kernels ``weight_x`` (Kx·n, m, K, K) and
``weight_s{j}`` (K·n, n, K, K), one bias per output channel, and Hadamard peepholes
``diag_v{k}`` (n, H, W) (Shi et al. 2015, eq. 3); its bound is init_scale / sqrt(n·K²), the
fan-in of a state's convolution per output channel.

Initialisation follows ``torch.nn.LSTM``: every weight, bias and peephole uniform in
(−k, k) with k = init_scale / sqrt(n); a projection whose genome node sets ``bias_init``
explicitly (e.g. LSTM-b's forget bias of 1, Jozefowicz et al. 2015) gets that constant instead.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lstm_search.compile._plan import Group, Plan, Step
from lstm_search.genome import Genome, module_sizes


def block_mask(g: Group, hidden_size: int) -> Tensor:
    """(K·n, n) bool: the stored entries of a ``blocks`` group; block row i (module i, the
    modules fastest first) reads block columns j >= i (Koutník et al. 2014, section 2)."""
    n = hidden_size
    one = torch.zeros(n, n, dtype=torch.bool)
    start = 0
    for k in module_sizes(n, g.blocks):
        one[start:start + k, start:] = True
        start += k
    return one.repeat(len(g.members), 1)


def dense_params(plan: Plan, params: dict[str, Tensor]) -> dict[str, Tensor]:
    """``params`` with every packed block-triangular weight unpacked into its dense (K·n, n)
    matrix (zeros below the blocks; differentiable, so gradients reach the packed entries)."""
    tri = [g for g in plan.groups if g.blocks]
    if not tri:
        return params
    out = dict(params)
    for g in tri:
        packed = params[g.weight_name]
        mask = block_mask(g, plan.hidden_size).to(packed.device)
        out[g.weight_name] = packed.new_zeros(mask.shape).masked_scatter(mask, packed)
    return out


def make_parameters(plan: Plan) -> dict[str, nn.Parameter]:
    """Uninitialised parameters of one layer, by name."""
    n = plan.hidden_size
    out: dict[str, nn.Parameter] = {}
    for g in plan.groups:
        if g.blocks:  # packed: the entries on and above the block diagonal
            rows = int(block_mask(g, n).sum())
            out[g.weight_name] = nn.Parameter(torch.empty(rows))
        elif plan.kernel:  # a convolution kernel per member, fused over output channels
            k = plan.kernel
            out[g.weight_name] = nn.Parameter(torch.empty(len(g.members) * n, g.width, k, k))
        else:
            shape = ((len(g.members) * n, g.width) if g.heads == 1 else
                     (len(g.members), g.heads, n // g.heads, g.width // g.heads))
            out[g.weight_name] = nn.Parameter(torch.empty(shape))
        if g.n_bias:
            out[g.bias_name] = nn.Parameter(torch.empty(g.n_bias * n))
    for k in plan.diags:
        out[f"diag_v{k}"] = nn.Parameter(torch.empty(plan.value_shape))
    for st in plan.attentions:
        out[f"key_v{st.pos}"] = nn.Parameter(torch.empty(n, n))
        out[f"score_v{st.pos}"] = nn.Parameter(torch.empty(n))
    for st in head_projections(plan):
        width = plan.input_size if st.args[0] == "x" else n
        out[f"hweight_v{st.pos}"] = nn.Parameter(torch.empty(plan.heads, width))
        if st.bias:
            out[f"hbias_v{st.pos}"] = nn.Parameter(torch.empty(plan.heads))
    return out


def head_projections(plan: Plan) -> tuple[Step, ...]:
    """The head_linear steps of a head-wise plan (format 2), each with parameters of its own."""
    return tuple(st for st in plan.steps if st.op == "hproj")


def param_map(plan: Plan) -> dict[str, list[tuple[str, int, int]]]:
    """Genome node name -> [(parameter name, first row, end row)] (for humans: the names are
    the genome's, shown as data, never used in code). Rows of a packed block-triangular
    weight are those of its dense form (:func:`dense_params`)."""
    n = plan.hidden_size
    out: dict[str, list[tuple[str, int, int]]] = {}
    for g in plan.groups:
        for slot, k in enumerate(g.members):
            entry = [(g.weight_name, slot * n, (slot + 1) * n) if g.heads == 1
                     else (g.weight_name, slot, slot + 1)]
            if slot < g.n_bias:
                entry.append((g.bias_name, slot * n, (slot + 1) * n))
            out[plan.node_names[k]] = entry
    for k in plan.diags:
        out[plan.node_names[k]] = [(f"diag_v{k}", 0, n)]
    for st in plan.attentions:
        out[plan.node_names[st.pos]] = [(f"key_v{st.pos}", 0, n), (f"score_v{st.pos}", 0, n)]
    for st in head_projections(plan):
        out[plan.node_names[st.pos]] = [(f"hweight_v{st.pos}", 0, plan.heads)] + (
            [(f"hbias_v{st.pos}", 0, plan.heads)] if st.bias else [])
    return out


@torch.no_grad()
def init_parameters(plan: Plan, genome: Genome, params: dict[str, nn.Parameter], *,
                    init_scale: float = 1.0, generator: torch.Generator | None = None) -> None:
    """Initialise ``params`` in place (see the module docstring)."""
    n = plan.hidden_size
    bound = init_scale / math.sqrt(n * max(plan.kernel, 1) ** 2)
    for p in params.values():
        p.copy_(torch.empty(p.shape, dtype=p.dtype).uniform_(-bound, bound,
                                                              generator=generator))
    nodes = genome.node_map
    for g in plan.groups:
        for slot in range(g.n_bias):
            node = nodes[plan.node_names[g.members[slot]]]
            if "bias_init" in node.params:
                params[g.bias_name][slot * n:(slot + 1) * n] = float(node.params["bias_init"])
    for st in head_projections(plan):
        node = nodes[plan.node_names[st.pos]]
        if st.bias and "bias_init" in node.params:
            params[f"hbias_v{st.pos}"].fill_(float(node.params["bias_init"]))
