"""Export a cell as a standalone, readable PyTorch file (``lstm-search export CELL --torch``).

The written module imports only ``torch`` and ``math``: a ``Cell`` (one step, one line per
genome node, each commented with the node's name) and a ``Layer`` (the loop over time with
``(T, B, m)`` input and ``(B, n)`` states, like :class:`lstm_search.nn.RecurrentLayer`). Its
docstring holds the cell's equations (:func:`lstm_search.genome.draw.to_equations`). It is
TorchScript-compatible: ``torch.jit.script(Layer(m, n))`` works and can be saved and loaded.

Identifiers in the written code come from the exporter (``v3``, ``W3``, ``b3``, ``p3`` for the
node at topological position 3), never from the genome's strings; genome names appear only in
comments and the docstring, where they are node names (identifiers) or a cleaned cell name.
:func:`exported_state_dict` gives a compiled layer's weights under the written module's names,
so a trained cell can leave with its weights.
"""

from __future__ import annotations

import re

from torch import Tensor

from lstm_search.genome import Genome, X, format_2_uses, format_version, genome_id, topo_order
from lstm_search.genome.draw import to_equations
from lstm_search.nn._layer import RecurrentLayer

_UNARY = {"sigmoid": "torch.sigmoid({})", "tanh": "torch.tanh({})", "relu": "torch.relu({})",
          "one_minus": "1.0 - {}", "identity": "{}",
          # ops of the modern recurrences
          "exp": "torch.exp({})", "log": "torch.log({})", "softplus": "F.softplus({})",
          "logsigmoid": "F.logsigmoid({})", "sqrt": "torch.sqrt({})", "abs": "torch.abs({})"}
# how a diag node's learned vector becomes its diagonal, by its ``weight`` parameter
_DIAG_WEIGHT = {"free": "{}", "sigmoid": "torch.sigmoid({})", "softplus": "F.softplus({})",
                "exp": "torch.exp({})"}


def _doc_text(text: str) -> str:
    """``text`` safe inside a triple-quoted docstring: printable, no backslash or quotes run."""
    text = "".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in text)
    return text.replace("\\", "/").replace('"""', "'''")


_KIND_TEXT = {"spatial": "spatial values", "heads": "head-wise values"}  # format 2's "values"


def export_torch(genome: Genome) -> str:
    """Python source of a standalone ``nn.Module`` for ``genome`` (see the module docstring).
    Raises ``ValueError`` for a cell using genome format 2 (below:, clock, blocks, spatial
    or head-wise values), which the exporter does not write yet."""
    genome.check()
    if format_version(genome.nodes, genome.values) > 1:
        uses = sorted({what for _, what in format_2_uses(genome.nodes)}
                      | ({_KIND_TEXT.get(str(genome.values.get("kind")), "a value shape")}
                         if genome.values else set()))
        raise ValueError(f"{genome.name or 'this cell'} uses genome format 2 ({', '.join(uses)})"
                         ", which the standalone export does not write yet; the compiled "
                         "modules (compile_rnn, compile_cell) run it")
    order = topo_order(genome)
    pos = {n.name: k for k, n in enumerate(order)}
    state_var = {s: f"s{j}" for j, s in enumerate(genome.states)}

    def ref(v: str) -> str:
        return "x" if v == X else state_var[v] if v in state_var else f"v{pos[v]}"

    name = _doc_text(genome.name) if re.fullmatch(r"[\w .,+-]{1,64}", genome.name) else "cell"
    init: list[str] = []
    resets: list[str] = []
    body: list[str] = []
    for k, node in enumerate(order):
        a = [ref(v) for v in node.inputs]
        width = "input_size" if node.inputs[0] == X else "hidden_size"
        op = node.op
        if op == "linear":
            init.append(f"self.W{k} = nn.Parameter(torch.empty(hidden_size, {width}))"
                        f"  # {node.name}")
            bias = f"self.b{k}" if node.param("bias") else "None"
            if node.param("bias"):
                init.append(f"self.b{k} = nn.Parameter(torch.empty(hidden_size))")
                if node.param("bias_init") is not None:
                    resets.append(f"nn.init.constant_(self.b{k}, "
                                  f"{float(node.param('bias_init'))!r})")
            expr = f"F.linear({a[0]}, self.W{k}, {bias})"
            heads = int(node.param("heads"))
            if heads > 1:  # head-wise: W{k} holds the blocks, (heads, n/heads, n/heads)
                init[-1 - bool(node.param("bias"))] = (
                    f"self.W{k} = nn.Parameter(torch.empty({heads}, hidden_size // {heads}, "
                    f"hidden_size // {heads}))  # {node.name}, {heads} heads")
                expr = (f"torch.einsum('bhi,hoi->bho', {a[0]}.reshape({a[0]}.shape[0], {heads}, "
                        f"-1), self.W{k}).reshape({a[0]}.shape[0], -1)")
                if node.param("bias"):
                    expr += f" + self.b{k}"
            if float(node.param("diag")):
                expr += f" + {float(node.param('diag'))!r} * {a[0]}"
        elif op == "fit":
            init.append(f"self.W{k} = nn.Parameter(torch.empty(hidden_size, {width}) "
                        f"if {width} != hidden_size else torch.empty(0, 0))")
            expr = f"F.linear({a[0]}, self.W{k}) if self.W{k}.numel() > 0 else {a[0]}"
        elif op == "diag":
            init.append(f"self.p{k} = nn.Parameter(torch.empty(hidden_size))  # {node.name}")
            diag = _DIAG_WEIGHT[str(node.param("weight"))].format(f"self.p{k}")
            expr = f"{diag} * {a[0]}"
        elif op == "add":
            expr = " + ".join(a)
        elif op == "mean":
            expr = f"({' + '.join(a)}) / {float(len(a))!r}"
        elif op == "mul":
            expr = " * ".join(a)
        elif op == "sub":
            expr = f"{a[0]} - {a[1]}"
        elif op == "blend":
            expr = f"{a[0]} * {a[1]} + (1.0 - {a[0]}) * {a[2]}"
        elif op == "leaky_relu":
            slope = float(node.param("slope"))
            expr = (f"F.leaky_relu({a[0]}, {slope!r})" if slope <= 1.0 else
                    f"torch.where({a[0]} > 0.0, {a[0]} * {slope!r}, {a[0]})")
        # -- ops of the modern recurrences ---------------------------------------------------
        elif op in ("max", "min"):
            expr = f"torch.{op}imum({a[0]}, {a[1]})"
        elif op == "div":
            eps = float(node.param("eps"))
            expr = f"{a[0]} / ({a[1]} + {eps!r})" if eps else f"{a[0]} / {a[1]}"
        elif op == "scale":
            expr = f"{a[0]} * {float(node.param('by'))!r}"
        elif op == "norm":  # over each of `heads` groups of units
            heads, eps = int(node.param("heads")), float(node.param("eps"))
            g = f"{a[0]}.reshape({a[0]}.shape[0], {heads}, -1)"
            if node.param("kind") == "layer":
                g = f"({g} - {g}.mean(-1, keepdim=True))"
            expr = (f"({g} * torch.rsqrt({g}.square().mean(-1, keepdim=True) + {eps!r}))"
                    f".reshape({a[0]}.shape[0], -1)")
        # -- end of the modern recurrences' ops ---------------------------------------------
        else:
            expr = _UNARY[op].format(a[0])
        body.append(f"v{k} = {expr}  # {node.name}")
    states = ", ".join(f"{state_var[s]}: Tensor" for s in genome.states)
    results = [ref(genome.output), *(ref(genome.new_states[s]) for s in genome.states)]
    n_ret = len(results)
    ret_t = ", ".join(["Tensor"] * n_ret)
    ns = len(genome.states)
    state_doc = ", ".join(f"{state_var[s]} = {s}" for s in genome.states)
    eq = _doc_text(to_equations(genome))
    eq = "\n".join(("    " + line).rstrip() for line in eq.splitlines())
    cell_lines = [f"        {line}" for line in init] or ["        pass"]
    reset_lines = [f"            {line}" for line in resets] + [""]
    step_lines = [f"        {line}" for line in body]
    src = f'''"""{name}: a recurrent cell exported by lstm-search (genome_id {genome_id(genome)}).

Standalone: needs only torch. ``Cell`` computes one step, ``Layer`` runs it over a sequence
((T, B, input_size) -> (T, B, hidden_size) outputs and the final states). States: {state_doc}.

Equations (W· a learned matrix, b a bias, p ⊙ a learned diagonal, σ the logistic sigmoid;
primes are the new values):

{eq}
"""

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Cell(nn.Module):
    """One step of the cell: ``forward(x (B, m), {", ".join(state_var.values())} (B, n))`` returns
    (output, {", ".join(f"new {s}" for s in genome.states)})."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
{chr(10).join(cell_lines)}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in ±1/sqrt(hidden_size), like torch.nn.LSTM (set biases excepted)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound)
{chr(10).join(reset_lines)}
    def forward(self, x: Tensor, {states}) -> Tuple[{ret_t}]:
{chr(10).join(step_lines)}
        return {", ".join(results)}


class Layer(nn.Module):
    """The cell over a sequence: ``forward(x (T, B, m), states=None)`` returns
    (outputs (T, B, n), [final states (B, n)]) with zero initial states by default."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.cell = Cell(input_size, hidden_size)

    def forward(self, x: Tensor, states: Optional[List[Tensor]] = None
                ) -> Tuple[Tensor, List[Tensor]]:
        if states is None:
            zero = x.new_zeros(x.size(1), self.hidden_size)
            states = [zero for _ in range({ns})]
        {", ".join(state_var.values())} = {", ".join(f"states[{j}]" for j in range(ns))}
        outputs: List[Tensor] = []
        for t in range(x.size(0)):
            y, {", ".join(state_var.values())} = self.cell(x[t], {", ".join(state_var.values())})
            outputs.append(y)
        return torch.stack(outputs, 0), [{", ".join(state_var.values())}]
'''
    return src


def exported_state_dict(layer: RecurrentLayer) -> dict[str, Tensor]:
    """A compiled layer's weights under the exported ``Layer``'s names (``cell.W3`` ...), for
    ``Layer.load_state_dict``."""
    order = topo_order(layer.genome)
    pos = {n.name: k for k, n in enumerate(order)}
    pmap = layer.param_map()
    params = dict(layer.named_parameters(recurse=False))
    out: dict[str, Tensor] = {}
    for node_name, entries in pmap.items():
        k = pos[node_name]
        node = layer.genome.node_map[node_name]
        (wname, r0, r1) = entries[0]
        w = params[wname][r0:r1].detach().clone()
        if node.op == "linear" and int(node.param("heads")) > 1:
            w = w[0]  # (1, heads, n/heads, n/heads) -> the node's blocks
        out[f"cell.{'p' if node.op == 'diag' else 'W'}{k}"] = w
        if len(entries) > 1:
            bname, c0, c1 = entries[1]
            out[f"cell.b{k}"] = params[bname][c0:c1].detach().clone()
    for k, node in enumerate(order):  # fit of an n-wide value: no weight, an empty placeholder
        if node.op == "fit" and f"cell.W{k}" not in out:
            out[f"cell.W{k}"] = next(iter(params.values())).new_empty(0, 0)
    return out
