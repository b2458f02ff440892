"""Cell diagrams as PNG files, drawn with matplotlib from a genome's picture graph
(:func:`lstm_search.genome.draw.vertices`).

The PNG is laid out the way cell diagrams are drawn in papers (Greff et al. 2015, fig. 1;
Jozefowicz et al. 2015, fig. 2): the input ``x`` and the previous states on the left, the new
states and the output on the right, data flowing left to right. Layers come from the longest
path from the inputs (Sugiyama et al. 1981); edges that skip layers pass through invisible
points so that the order inside each layer can be chosen by barycentre sweeps to cut crossings.
Learned projections are boxes ``W``, gates (sigmoid) and activations labelled boxes, pointwise
ops small circles (⊕ ⊙ − 1−).

Matplotlib is imported only inside :func:`draw_png` (a bare Figure on the Agg canvas), so
importing this module stays light.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_search.genome import Genome, validate
from lstm_search.genome.draw import POINTWISE, Vertex, vertices

# -- layered layout -------------------------------------------------------------------------------


@dataclass
class Layout:
    """Positions of the picture: ``pos[key] = (layer, y)``; ``routes[(a, b, k)]`` the points an
    edge passes (its dummy vertices)."""

    verts: list[Vertex]
    edges: list[tuple[str, str, str]]
    pos: dict[str, tuple[float, float]]
    routes: list[list[tuple[float, float]]]
    n_layers: int
    height: int


def _crossings(upper: list[str], lower: list[str], links: list[tuple[str, str]]) -> int:
    iu = {v: k for k, v in enumerate(upper)}
    il = {v: k for k, v in enumerate(lower)}
    es = [(iu[a], il[b]) for a, b in links if a in iu and b in il]
    return sum(1 for i, (a1, b1) in enumerate(es) for a2, b2 in es[i + 1:]
               if (a1 - a2) * (b1 - b2) < 0)


def _transpose(order: list[list[str]], links: list[tuple[str, str]]) -> None:
    """Swap neighbours inside a layer while that removes crossings (Gansner et al. 1993)."""
    improved = True
    rounds = 0
    while improved and rounds < 8:
        improved, rounds = False, rounds + 1
        for i, o in enumerate(order):
            for k in range(len(o) - 1):
                def local(o: list[str] = o, i: int = i) -> int:
                    c = 0
                    if i > 0:
                        c += _crossings(order[i - 1], o, links)
                    if i + 1 < len(order):
                        c += _crossings(o, order[i + 1], links)
                    return c

                before = local()
                o[k], o[k + 1] = o[k + 1], o[k]
                if local() < before:
                    improved = True
                else:
                    o[k], o[k + 1] = o[k + 1], o[k]


def layout(genome: Genome, sweeps: int = 12) -> Layout:
    """Longest-path layers, dummy vertices on long edges, barycentre ordering, and y positions
    pulled towards neighbours (keeping order and unit spacing)."""
    verts, edges = vertices(genome)
    kind = {v.key: v.kind for v in verts}
    preds: dict[str, list[str]] = defaultdict(list)
    for a, b, _ in edges:
        preds[b].append(a)
    layer: dict[str, int] = {}

    def depth(v: str) -> int:
        stack = [v]
        while stack:
            u = stack[-1]
            if u in layer:
                stack.pop()
                continue
            todo = [p for p in preds[u] if p not in layer]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            layer[u] = 0 if kind[u] in ("input", "state") else \
                1 + max((layer[p] for p in preds[u]), default=0)
        return layer[v]

    for v in verts:
        if kind[v.key] not in ("new", "output"):
            depth(v.key)
    last = 1 + max((layer[v.key] for v in verts if kind[v.key] == "node"), default=0)
    for v in verts:
        if kind[v.key] in ("new", "output"):
            layer[v.key] = last
    # Shorten edges (a greedy pass of network-simplex layering, Gansner et al. 1993): a node
    # with more inputs than consumers moves as far left as its inputs allow, one with more
    # consumers as far right as they allow; ties stay on the longest-path layer.
    succs: dict[str, list[str]] = defaultdict(list)
    for a, b, _ in edges:
        succs[a].append(b)
    inner = [v.key for v in verts if kind[v.key] == "node"]
    for _ in range(4):
        for v in sorted(inner, key=lambda k: -layer[k]):
            lo = 1 + max((layer[p] for p in preds[v]), default=0)
            hi = min((layer[s] for s in succs[v]), default=last) - 1
            if len(preds[v]) > len(succs[v]):
                layer[v] = lo
            elif len(preds[v]) < len(succs[v]):
                layer[v] = hi
            else:
                layer[v] = min(max(layer[v], lo), hi)
    # Dummy vertices on edges spanning several layers.
    layers: list[list[str]] = [[] for _ in range(last + 1)]
    for v in verts:
        layers[layer[v.key]].append(v.key)
    links: list[tuple[str, str]] = []
    chains: list[list[str]] = []
    for k, (a, b, _) in enumerate(edges):
        chain = [a]
        for L in range(layer[a] + 1, layer[b]):
            d = f"@d{k}:{L}"
            layers[L].append(d)
            chain.append(d)
        chain.append(b)
        links.extend((chain[k], chain[k + 1]) for k in range(len(chain) - 1))
        chains.append(chain)
    up: dict[str, list[str]] = defaultdict(list)
    down: dict[str, list[str]] = defaultdict(list)
    for a, b in links:
        down[a].append(b)
        up[b].append(a)

    def total(order: list[list[str]]) -> int:
        return sum(_crossings(order[i], order[i + 1], links) for i in range(len(order) - 1))

    order = [list(layer_) for layer_ in layers]
    best, best_c = [list(o) for o in order], total(order)
    for sweep in range(sweeps):
        rng = range(1, len(order)) if sweep % 2 == 0 else range(len(order) - 2, -1, -1)
        for i in rng:
            ref = order[i - 1] if sweep % 2 == 0 else order[i + 1]
            nb = up if sweep % 2 == 0 else down
            idx = {v: k for k, v in enumerate(ref)}
            old = {v: k for k, v in enumerate(order[i])}

            def bary(v: str, nb=nb, idx=idx, old=old) -> float:
                ks = [idx[u] for u in nb[v] if u in idx]
                return sum(ks) / len(ks) if ks else old[v]

            order[i].sort(key=lambda v, b=bary, o=old: (b(v), o[v]))
        _transpose(order, links)
        c = total(order)
        if c <= best_c:  # ties: the later sweep (the last one orders by consumers)
            best, best_c = [list(o) for o in order], c
    order = best
    # y positions: start stacked around 0, then move towards the mean of neighbours while
    # keeping the order and a spacing of 1 (a few relaxation passes).
    y: dict[str, float] = {}
    for o in order:
        for k, v in enumerate(o):
            y[v] = k - (len(o) - 1) / 2
    nbrs = {v: up[v] + down[v] for o in order for v in o}
    for _ in range(20):
        for o in order:
            want = [sum(y[u] for u in nbrs[v]) / len(nbrs[v]) if nbrs[v] else y[v] for v in o]
            want = [0.5 * y[v] + 0.5 * w for v, w in zip(o, want)]
            # enforce spacing: forward pass then backward pass, then centre
            fwd = list(want)
            for k in range(1, len(fwd)):
                fwd[k] = max(fwd[k], fwd[k - 1] + 1)
            bwd = list(want)
            for k in range(len(bwd) - 2, -1, -1):
                bwd[k] = min(bwd[k], bwd[k + 1] - 1)
            for k, v in enumerate(o):
                y[v] = (fwd[k] + bwd[k]) / 2
            for k in range(1, len(o)):  # averaging can break spacing: repair forward
                if y[o[k]] < y[o[k - 1]] + 1:
                    y[o[k]] = y[o[k - 1]] + 1
    lo = min(y.values())
    pos = {v: (float(i), y[v] - lo) for i, o in enumerate(order) for v in o}
    routes = [[pos[v] for v in chain] for chain in chains]
    height = round(max(y.values()) - lo) + 1
    return Layout(verts, edges, {v.key: pos[v.key] for v in verts}, routes, last + 1, height)


# -- PNG ------------------------------------------------------------------------------------------

_FILL = {
    "input": "#c6dbef", "state": "#c7e9c0", "new": "#a1d99b", "output": "#a1d99b",
    "linear": "#e0e0e0", "fit": "#e0e0e0", "diag": "#e0e0e0", "sigmoid": "#fdd0a2",
    "tanh": "#ffffb3", "relu": "#dadaeb", "leaky_relu": "#dadaeb", "identity": "#f0f0f0",
    "blend": "#dadaeb",
}
DX, DY = 1.55, 1.0  # data units between layers and between rows (DX grows for tall cells)


def draw_png(genome: Genome, path: str | Path, title: str | None = None, *,
             dpi: int = 150) -> Path:
    """Draw the cell to a PNG file and return its path (see the module docstring)."""
    problems = validate(genome)
    if any(p.rule in ("cycle", "undefined-input", "name") for p in problems):
        raise ValueError("cannot draw a genome whose graph is malformed: "
                         + "; ".join(str(p) for p in problems[:5]))
    # A bare Figure (no pyplot): nothing global changes, the Agg canvas writes the PNG.
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    lay = layout(genome)
    # Tall, shallow cells (FGR) get wider columns so that edges are not nearly vertical.
    dx = min(max(DX, 0.8 * lay.height / max(lay.n_layers - 1, 1)), 3.2)
    x0, x1 = -0.8, (lay.n_layers - 1) * dx + 0.8
    y0, y1 = -0.75, (lay.height - 1) * DY + 0.6 + (0.55 if title != "" else 0.0)
    # Equal scale on both axes (circles stay round), at most 40 inches a side.
    scale = min(0.95, 40.0 / max(x1 - x0, y1 - y0))  # inches per data unit
    fig = Figure(figsize=((x1 - x0) * scale, (y1 - y0) * scale))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.axis("off")

    def xy(p: tuple[float, float]) -> tuple[float, float]:
        return p[0] * dx, p[1] * DY

    patches: dict[str, Any] = {}
    for v in lay.verts:
        cx, cy = xy(lay.pos[v.key])
        op = v.node.op if v.node else v.kind
        if v.node is not None and op in POINTWISE:
            # wider for many inputs, so that their arrowheads do not pile up
            r = 0.17 + 0.025 * max(len(v.node.inputs) - 2, 0)
            patch = Circle((cx, cy), r, facecolor="white", edgecolor="black", lw=1.1,
                           zorder=3)
            fs = 13 if op in ("add", "mul") else 11
            ax.text(cx, cy - (0.015 if op in ("add", "mul") else 0), v.label, ha="center",
                    va="center", fontsize=fs, zorder=4, parse_math=False)
            # the caption sits below and to the right: inputs arrive from the left
            cap_xy, cap_ha = (cx + 0.55 * r, cy - 0.8 * r), "left"
        else:
            w = max(0.42, 0.095 * len(v.label) + 0.22)
            h = 0.36
            rounded = op not in ("linear", "fit", "diag")
            patch = FancyBboxPatch((cx - w / 2, cy - h / 2), w, h,
                                   boxstyle="round,pad=0.02,rounding_size=0.1" if rounded
                                   else "square,pad=0.02",
                                   facecolor=_FILL.get(op, "#ffffb3"), edgecolor="black",
                                   lw=1.0, zorder=3)
            bold = v.kind in ("input", "state", "new", "output")
            ax.text(cx, cy, v.label, ha="center", va="center", fontsize=10.5 if bold else 10,
                    fontweight="bold" if bold else "normal", zorder=4, parse_math=False)
            cap_xy, cap_ha = (cx, cy - 0.30), "center"
        ax.add_patch(patch)
        patches[v.key] = patch
        if v.caption:
            cap = v.caption if len(v.caption) <= 12 else v.caption[:11] + "…"
            ax.text(*cap_xy, cap, ha=cap_ha, va="top", fontsize=6.5, color="#555555",
                    zorder=4, parse_math=False,
                    bbox={"boxstyle": "round,pad=0.05", "fc": "white", "ec": "none",
                          "alpha": 0.8})
    for (a, b, slot), route in zip(lay.edges, lay.routes):
        pts = [xy(p) for p in route]
        # lines through the dummy points, an arrow on the last leg
        if len(pts) > 2:
            ax.plot([p[0] for p in pts[:-1]], [p[1] for p in pts[:-1]], color="#444444",
                    lw=0.9, zorder=1, solid_capstyle="round")
        arrow = FancyArrowPatch(pts[-2], pts[-1], arrowstyle="-|>", mutation_scale=9,
                                color="#444444", lw=0.9, zorder=2,
                                patchA=patches[a] if len(pts) == 2 else None,
                                patchB=patches[b], shrinkA=0, shrinkB=1)
        ax.add_patch(arrow)
        if slot:
            (ax_, ay_), (bx_, by_) = pts[-2], pts[-1]
            t = 0.55  # a little past the middle of the last leg
            ax.text(ax_ + t * (bx_ - ax_), ay_ + t * (by_ - ay_) + 0.06, slot, fontsize=7.5,
                    color="#b30000", ha="center", va="bottom", zorder=5, parse_math=False,
                    bbox={"boxstyle": "round,pad=0.08", "fc": "white", "ec": "none",
                          "alpha": 0.85})
    if title is None:
        title = genome.name or "cell"
        if genome.kernel:
            title += (f" (every value a C×H×W map; W∗{genome.kernel}×{genome.kernel}: "
                      "a convolution, p⊙: a Hadamard weight)")
    if title:
        ax.text(((lay.n_layers - 1) * dx) / 2, (lay.height - 1) * DY + 0.75, title,
                ha="center", va="center", fontsize=12, fontweight="bold", parse_math=False)
    out = Path(path)
    fig.savefig(out, dpi=dpi, facecolor="white", format="png")
    return out


__all__ = ["Layout", "draw_png", "layout"]
