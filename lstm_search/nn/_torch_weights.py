"""Copy the weights of ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` into a compiled lstm / gru / rnn_tanh.

PyTorch stores each layer's input and recurrent matrices gate by gate
(``weight_ih_l{k}`` rows: i, f, g, o for LSTM; r, z, n for GRU) with two biases per gate; the
zoo's genomes have one projection node per gate and source (``x_i``, ``h_i``, ...), each with its
bias, so the copy is row block by row block (shared/reference/cells.md).

The module's genome may be any writing of the zoo cell (same genome_id): nodes and states named
otherwise, listed in another order, commutative inputs swapped. Its nodes are matched to the zoo
genome's through the graph (:func:`lstm_search.genome.correspondence`), never by name, so a
genome whose ``x_i`` computes the forget gate gets the forget gate's rows there.
"""

from __future__ import annotations

import torch
from torch import nn

from lstm_search import zoo
from lstm_search.genome import correspondence, genome_id
from lstm_search.nn._stack import RecurrentStack

# torch module kind -> (zoo cell, gate suffixes in torch's row order)
_LAYOUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "LSTM": ("lstm", ("i", "f", "g", "o")),
    "GRU": ("gru", ("r", "z", "n")),
    "RNN": ("rnn_tanh", ("h",)),
}


def _kind(torch_rnn: nn.Module) -> str:
    for kind, cls in (("LSTM", nn.LSTM), ("GRU", nn.GRU), ("RNN", nn.RNN)):
        if isinstance(torch_rnn, cls):
            if kind == "RNN" and torch_rnn.nonlinearity != "tanh":
                raise ValueError("only nn.RNN with nonlinearity='tanh' maps to a zoo cell "
                                 f"(rnn_tanh); got nonlinearity={torch_rnn.nonlinearity!r}")
            return kind
    raise TypeError(f"expected torch.nn.LSTM, GRU or RNN, got {type(torch_rnn).__name__}")


@torch.no_grad()
def load_torch_weights(module: nn.Module, torch_rnn: nn.Module) -> nn.Module:
    """Copy every layer's weights of ``torch_rnn`` into ``module`` (from :func:`compile_rnn`)
    and return ``module``. The module's genome must be the zoo's matching cell (same
    genome_id), written in any way (nodes are matched by structure, see the module docstring);
    sizes and layer counts must agree; bidirectional, projections and bias=False
    are not supported."""
    kind = _kind(torch_rnn)
    cell, gates = _LAYOUTS[kind]
    if not isinstance(module, RecurrentStack):
        raise TypeError(f"expected a module from compile_rnn, got {type(module).__name__}")
    want = zoo.get(cell)
    if genome_id(module.genome) != genome_id(want):
        raise ValueError(f"torch.nn.{kind} weights fit the zoo cell {cell!r} (genome_id "
                         f"{genome_id(want)}), but this module's genome "
                         f"{module.genome.name or '(unnamed)'} has genome_id "
                         f"{genome_id(module.genome)}")
    if getattr(torch_rnn, "bidirectional", False) or getattr(torch_rnn, "proj_size", 0):
        raise ValueError("bidirectional torch RNNs and LSTM projections are not supported")
    if not torch_rnn.bias:
        raise ValueError(f"torch.nn.{kind}(bias=False) has no biases; the zoo cell has them")
    for label, ours, theirs in (("input_size", module.input_size, torch_rnn.input_size),
                                ("hidden_size", module.hidden_size, torch_rnn.hidden_size),
                                ("num_layers", module.num_layers, torch_rnn.num_layers)):
        if ours != theirs:
            raise ValueError(f"{label} differs: module {ours}, torch.nn.{kind} {theirs}")
    role = correspondence(module.genome, want)  # zoo node name -> the module's node name
    n = module.hidden_size
    for k, layer in enumerate(module.layers):
        pmap = layer.param_map()
        params = dict(layer.named_parameters(recurse=False))
        for src, tag in (("x", "ih"), ("h", "hh")):
            w = getattr(torch_rnn, f"weight_{tag}_l{k}")
            b = getattr(torch_rnn, f"bias_{tag}_l{k}")
            for i, gate in enumerate(gates):
                node = role[f"{src}_{gate}"]
                if node not in pmap or len(pmap[node]) != 2:  # cannot happen for a match
                    raise ValueError(f"node {node!r} (the zoo's {src}_{gate}) is not a biased "
                                     "projection of the compiled layer")
                (wname, r0, r1), (bname, c0, c1) = pmap[node]
                params[wname][r0:r1] = w[i * n:(i + 1) * n]
                params[bname][c0:c1] = b[i * n:(i + 1) * n]
    return module
