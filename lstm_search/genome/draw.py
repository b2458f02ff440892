"""Pictures of a cell as text: equations, Graphviz source, and the graph both are drawn from.

:func:`vertices` is the picture's graph (the input ``x`` and the previous states, one vertex per
node, the new states and the output; edges labelled with the slot of non-commutative inputs);
:func:`to_dot` writes it for Graphviz and :mod:`lstm_search.analysis.cell_png` lays it out and
draws it as a PNG. Standard library only. Node names are identifiers once a genome validates;
labels are escaped for Graphviz anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from lstm_search.genome._canonical import topo_order
from lstm_search.genome._genome import Genome, Node
from lstm_search.genome._ops import X, below_state, dropout_mask
from lstm_search.genome._shapes import value_shapes

# -- text ---------------------------------------------------------------------------------------


def _linear_text(node: Node, v: str) -> str:
    a = float(node.param("diag"))
    heads, g = int(node.param("heads")), int(node.param("blocks"))
    # format 2's blocks: block upper triangular over g modules; heads: k diagonal blocks
    w0 = f"W▲{g}" if g else f"blockdiag_{heads}(W)" if heads > 1 else "W"
    w = f"({w0} + {a:g}·I)" if a else w0
    dm = dropout_mask(node)
    if dm is not None:  # format 2: variational dropout, a mask per sequence while training
        v = f"({v} ⊙ mask_{dm[0]}[p={dm[1]:g}])"
    b = ""
    if node.param("bias"):
        b0 = node.param("bias_init")
        b = " + b" + (f" (b₀ = {float(b0):g})" if b0 is not None else "")
    return f"{w}·{v}{b}"


def node_formula(node: Node) -> str:
    """The value of one node as an equation's right-hand side, e.g. ``σ(i_pre)``."""
    ins = node.inputs
    op = node.op
    if op == "linear":
        return _linear_text(node, ins[0])
    if op == "fit":
        return f"fit({ins[0]})  [{ins[0]} if its width is n, else W·{ins[0]}]"
    if op == "diag" and str(node.param("weight")) == "free":
        return f"p ⊙ {ins[0]}"
    if op == "add":
        return " + ".join(ins)
    if op == "mul":
        return " ⊙ ".join(ins)
    if op == "mean":
        return f"({' + '.join(ins)}) / {len(ins)}"
    if op == "sub":
        return f"{ins[0]} − {ins[1]}"
    if op == "one_minus":
        return f"1 − {ins[0]}"
    if op == "blend":
        z, a, b = ins
        return f"{z} ⊙ {a} + (1 − {z}) ⊙ {b}"
    if op == "sigmoid":
        return f"σ({ins[0]})"
    if op == "leaky_relu":
        return f"leaky_relu({ins[0]}, {float(node.param('slope')):g})"
    if op == "identity":
        return ins[0]
    if op == "clock":
        base = int(node.param("base"))
        return (f"clock({ins[0]}, {ins[1]})  [{node.param('modules')} modules, module i takes "
                f"{ins[0]} when t mod {base}^i = 0, else keeps {ins[1]}]")
    if op == "attention":
        k = int(node.param("window"))
        over = f"{ins[1]} of the last {k} steps" if k else f"{ins[1]} of every earlier step"
        return (f"Σᵢ softmax(vᵀ tanh(W_k·{ins[1]}ᵢ + {ins[0]})) {ins[1]}ᵢ  [attention over "
                f"{over}; 0 at the first step]")
    # -- ops of the modern recurrences -----------------------------------------------------------
    if op == "diag":
        w = str(node.param("weight"))
        return f"{'p' if w == 'free' else f'{_DIAG_TEXT[w]}(p)'} ⊙ {ins[0]}"
    if op == "div":
        eps = float(node.param("eps"))
        return f"{ins[0]} / ({ins[1]} + {eps:g})" if eps else f"{ins[0]} / {ins[1]}"
    if op == "scale":
        p = float(node.param("dim_power"))
        d = f"d^{p:g} · " if p else ""  # format 2: d the units per head
        return f"{float(node.param('by')):g} · {d}{ins[0]}"
    # -- head-wise values (format 2) -------------------------------------------------------------
    if op == "head_linear":
        b = " + b" if node.param("bias") else ""
        return f"w_hᵀ·{ins[0]}{b}  [one per head]"
    if op == "outer":
        return f"{ins[0]} {ins[1]}ᵀ  [per head]"
    if op == "matvec":
        return f"{ins[0]} {ins[1]}  [per head]"
    if op == "dot":
        return f"{ins[0]}ᵀ {ins[1]}  [per head]"
    if op == "abs":
        return f"|{ins[0]}|"
    if op == "sqrt":
        return f"√{ins[0]}"
    if op == "logsigmoid":
        return f"log σ({ins[0]})"
    if op == "norm":
        heads = int(node.param("heads"))
        over = f", {heads} groups" if heads > 1 else ""
        return f"{node.param('kind')}norm({ins[0]}{over}, eps {float(node.param('eps')):g})"
    return f"{op}({', '.join(ins)})"


_DIAG_TEXT = {"sigmoid": "σ", "softplus": "softplus", "exp": "exp"}


def to_equations(genome: Genome) -> str:
    """A readable listing: one equation per node, then the new states and the output."""
    width = max([len(n.name) for n in genome.nodes] + [len(s) + 1 for s in genome.states] + [6])
    lines = [f"# {genome.name or 'cell'}: input x, states {', '.join(genome.states)} "
             "(previous values by name, new values primed)"]
    if genome.kernel:  # format 2's spatial values (Shi et al. 2015)
        k = genome.kernel
        lines.append(f"# spatial values: every value a (C, H, W) map; W·v is a {k}×{k} "
                     "convolution W * v ('same' padding), p ⊙ v a Hadamard weight of the map")
    if genome.heads:  # format 2's head-wise values (xLSTM's mLSTM, Beck et al. 2024)
        h = genome.heads
        shapes = value_shapes(genome, topo_order(genome))[0]
        kinds = ", ".join(f"{s} {shapes[s]}" for s in genome.states)
        lines.append(f"# head-wise values: {h} head{'s' if h > 1 else ''} of d = n/{h} units; "
                     f"a value is a vector (n), a scalar per head or a d×d matrix per head "
                     f"(states: {kinds}); a scalar multiplies its head's units")
    if any(below_state(i) is not None for n in genome.nodes for i in n.inputs):
        lines.append("# below:s = the layer below's new value of state s at this step "
                     "(zeros in the first layer)")
    if any(dropout_mask(n) is not None for n in genome.nodes):
        lines.append("# mask_s[p=p] = variational dropout mask of x or state s while training: "
                     "0 with probability p, else 1/(1 − p), drawn once per sequence; 1 in "
                     "evaluation")
    lines += [f"{n.name:<{width}} = {node_formula(n)}" for n in genome.nodes]
    lines += [f"{s + '′':<{width}} = {genome.new_states.get(s, '?')}" for s in genome.states]
    lines.append(f"{'output':<{width}} = {genome.output}")
    return "\n".join(lines)


# -- graph model shared by dot and png ------------------------------------------------------------

_SHORT = {
    "linear": "W", "fit": "fit", "diag": "p⊙", "add": "⊕", "mean": "mean", "mul": "⊙", "sub": "−",
    "one_minus": "1−", "blend": "blend", "sigmoid": "σ", "tanh": "tanh", "relu": "ReLU",
    "leaky_relu": "LReLU", "identity": "id",
    # ops of the modern recurrences
    "exp": "exp", "log": "log", "softplus": "softplus", "logsigmoid": "logσ", "max": "max",
    "min": "min", "div": "÷", "sqrt": "√", "abs": "|·|", "scale": "×c", "norm": "norm",
    # head-wise values (format 2)
    "head_linear": "w_h", "outer": "⊗", "matvec": "C·q", "dot": "·ᵀ·",
}
POINTWISE = ("add", "mul", "sub", "one_minus")
# labels of non-commutative inputs
_SLOTS = {"sub": ("+", "−"), "blend": ("z", "·z", "·(1−z)"), "div": ("num", "den"),
          "clock": ("on", "off"), "attention": ("query", "memory"), "outer": ("a", "bᵀ"),
          "matvec": ("C", "q")}


def op_label(node: Node, kernel: int = 0) -> str:
    """The short symbol drawn for a node (``W``, ``σ``, ``⊕``, ...); in a cell of spatial
    values (``kernel`` K > 0) a projection is a K×K convolution, ``W∗K×K``."""
    if node.op == "linear":
        a = float(node.param("diag"))
        if int(node.param("blocks")):
            w = f"W▲{int(node.param('blocks'))}"
        elif kernel:
            w = f"W∗{kernel}×{kernel}"
        else:
            w = f"W{int(node.param('heads'))}h" if int(node.param("heads")) > 1 else "W"
        w = f"{w}+{a:g}I" if a else w
        dm = dropout_mask(node)
        return f"{w}·drop {dm[1]:g}" if dm is not None else w
    if node.op == "clock":
        return f"clock {node.param('modules')}×"
    if node.op == "attention":
        k = int(node.param("window"))
        return f"attend {k}" if k else "attend all"
    if node.op == "scale":
        return f"×{float(node.param('by')):g}"
    if node.op == "diag" and str(node.param("weight")) != "free":
        return f"{_DIAG_TEXT[str(node.param('weight'))]}(p)⊙"
    return _SHORT.get(node.op, node.op)


@dataclass(frozen=True)
class Vertex:
    key: str  # unique id: "in:x", "in:h", a node name, "out:h", "out:@output"
    kind: str  # input | state | node | new | output
    label: str
    node: Node | None = None
    caption: str = ""


def vertices(genome: Genome) -> tuple[list[Vertex], list[tuple[str, str, str]]]:
    """Vertices and edges (source key, target key, slot label) of the picture."""
    verts = [Vertex(f"in:{X}", "input", X)]
    verts += [Vertex(f"in:{s}", "state", s) for s in genome.states]
    ref = {X: f"in:{X}", **{s: f"in:{s}" for s in genome.states}}
    for i in dict.fromkeys(i for n in genome.nodes for i in n.inputs):
        s = below_state(i)
        if s is not None and s in genome.states:  # format 2: the layer below's new value
            verts.append(Vertex(f"in:{i}", "input", f"{s}′ below"))
            ref[i] = f"in:{i}"
    names = {n.name for n in genome.nodes}
    edges: list[tuple[str, str, str]] = []
    for n in genome.nodes:
        verts.append(Vertex(n.name, "node", op_label(n, genome.kernel), n, n.name))
        slots = _SLOTS.get(n.op, ())
        for k, i in enumerate(n.inputs):
            src = ref.get(i, i)
            if i in names or i in ref:
                edges.append((src, n.name, slots[k] if k < len(slots) else ""))
    out_state = [s for s in genome.states if genome.new_states.get(s) == genome.output]
    for s in genome.states:
        target = genome.new_states.get(s)
        label = f"{s}′" + (" = y" if s in out_state[:1] else "")
        verts.append(Vertex(f"out:{s}", "new", label))
        if target in names:
            edges.append((target, f"out:{s}", ""))
    if not out_state and genome.output in names:
        verts.append(Vertex("out:@output", "output", "y"))
        edges.append((genome.output, "out:@output", ""))
    return verts, edges


# -- Graphviz -----------------------------------------------------------------------------------


def _q(text: str) -> str:
    """A Graphviz double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_DOT_STYLE = {
    "input": 'shape=box, style="rounded,filled", fillcolor="#c6dbef"',
    "state": 'shape=box, style="rounded,filled", fillcolor="#c7e9c0"',
    "new": 'shape=box, style="rounded,filled", fillcolor="#a1d99b"',
    "output": 'shape=box, style="rounded,filled", fillcolor="#a1d99b"',
}
_DOT_OP_STYLE = {
    "linear": 'shape=box, style=filled, fillcolor="#e0e0e0"',
    "attention": 'shape=box, style=filled, fillcolor="#c6dbef"',
    "fit": 'shape=box, style=filled, fillcolor="#e0e0e0"',
    "diag": 'shape=box, style=filled, fillcolor="#e0e0e0"',
    "sigmoid": 'shape=box, style="rounded,filled", fillcolor="#fdd0a2"',
    "blend": 'shape=box, style="rounded,filled", fillcolor="#dadaeb"',
}


def to_dot(genome: Genome) -> str:
    """Graphviz source of the cell (left to right: inputs, nodes, new states)."""
    verts, edges = vertices(genome)
    title = genome.name or "cell"
    out = [f"digraph {_q(title)} {{", "  rankdir=LR;", "  node [fontname=Helvetica];",
           f"  label={_q(title)}; labelloc=t;"]
    for v in verts:
        if v.node is None:
            style, label = _DOT_STYLE[v.kind], v.label
        elif v.node.op in POINTWISE:
            style, label = "shape=circle, width=0.3, fixedsize=true", v.label
        else:
            style = _DOT_OP_STYLE.get(v.node.op,
                                      'shape=box, style="rounded,filled", fillcolor="#ffffb3"')
            label = f"{v.label}\n{v.caption}"  # op symbol over the node's name
        tooltip = f", tooltip={_q(v.caption)}" if v.caption else ""
        out.append(f"  {_q(v.key)} [label={_q(label)}{tooltip}, {style}];")
    ins = " ".join(_q(v.key) for v in verts if v.kind in ("input", "state"))
    outs = " ".join(_q(v.key) for v in verts if v.kind in ("new", "output"))
    out.append(f"  {{ rank=source; {ins} }}")
    out.append(f"  {{ rank=sink; {outs} }}")
    for a, b, slot in edges:
        extra = f" [headlabel={_q(slot)}, fontsize=9]" if slot else ""
        out.append(f"  {_q(a)} -> {_q(b)}{extra};")
    out.append("}")
    return "\n".join(out) + "\n"


__all__ = ["POINTWISE", "Vertex", "node_formula", "op_label", "to_dot", "to_equations",
           "vertices"]
