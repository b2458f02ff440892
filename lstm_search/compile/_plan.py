"""Plan: a validated genome turned into steps over compiler-named values.

The plan is the single description every backend executes. It fixes

* a topological order of the live nodes; node ``k`` of that order computes the value ``v{k}``;
* *groups*: the learned projections (``linear``, and ``fit`` when it has a matrix) that read
  the same value share one weight matrix, so they cost one matrix product. The group reading
  ``x`` is hoisted out of the time loop (one product over the whole sequence); a group reading a
  previous state ``s{j}`` is one product per step; a group reading an internal value ``v{k}``
  stays per step too (e.g. ``W_hh (r ⊙ h)`` of GRU-like cells);
* which value becomes each new state and the output.

Genome format 2 adds the value ``u{j}`` (``below:<state j>``: the layer below's new value of
state j at this step, zeros in the first layer; :attr:`Plan.below` lists the j read, and every
layer of the cell emits those states' values at every step for the layer above), ``clock``
steps (``modules``, ``base``: the per-unit schedule is :func:`clock_mask`), and groups with
``blocks`` (a block upper triangular matrix, stored packed: :mod:`._params`), and
``attention`` steps (args: the query's ref and ``s{j}``, the state whose earlier new values
form the memory; each owns the parameters ``key_v{k}`` (n, n) and ``score_v{k}`` (n,); the
backends keep the memory and its keys as tensors in the loop state, :attr:`Plan.attentions`).

A spatial cell (genome format 2's ``values`` of kind ``spatial``, Shi et al. 2015) plans the
same steps and groups over channels: ``input_size`` and ``hidden_size`` are the input and
hidden channels, :attr:`Plan.kernel` the convolution's K and :attr:`Plan.spatial` the map
size (H, W); a group's fused "matrix" is then a (K·n, width, K, K) convolution kernel, the x
group still hoisted (one convolution over the T·B input maps), a diag weight a (n, H, W) map.
The backends run it with ``conv2d`` where a vector plan has ``linear``; the scan path, the
generated backward and oneDNN packing are not used for it (see :mod:`._kernels`).

Genome format 2's variational dropout (``dropout``/``mask`` on ``linear``) gives the plan
:attr:`Plan.masks`, one per owner (x or a state), and each group the index of the mask its
source is multiplied by before the product (a masked and an unmasked projection of one
source are two groups; the projections of x must take x's mask or none, so that x keeps one
hoisted product, of ``x ⊙ mask`` over the whole sequence). The kernels take the masks drawn
for the call, None in evaluation (identity). A plan with masks runs the step loop.

A head-wise plan (genome format 2's ``values`` of kind ``heads``: xLSTM's mLSTM, Beck et al.
2024, eq. 19-27) has :attr:`Plan.heads` h and each step's shape and its arguments' (vector
(B, n), per-head scalar (B, h), matrix (B, h, d, d); :attr:`Step.shape`, ``arg_shapes``), and
each state's (:attr:`Plan.state_kinds`); ``hproj`` steps (``head_linear``) own
``hweight_v{k}`` (h, width) and ``hbias_v{k}`` (h,); ``outer``, ``matvec`` and ``dot`` work
per head, and a pointwise step spreads a per-head scalar argument over its head's units. It
runs the step loop, with autograd through the generated forward (no generated backward).

Identifiers are built here from positions only (``x``, ``xt``, ``s0``, ``v3``, ``g0``); the
genome's strings never leave :func:`build_plan` except in :attr:`Plan.node_names`, a mapping kept
for humans (``param_map``), never for code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lstm_search.compile._gated import GatedSpec, gated_path
from lstm_search.compile._memory import MemorySpec, memory_path
from lstm_search.genome import (
    Genome,
    GenomeError,
    X,
    below_state,
    dropout_mask,
    module_sizes,
    topo_order,
    value_shapes,
)

# value references used by steps: "xt" (the step input itself), "s{j}" (previous state j),
# "v{k}" (value of node k).


@dataclass(frozen=True)
class Group:
    """Projections of one source value fused into one matrix ``(len(members)·n, width)``.

    ``members`` are node positions, those with a bias first (``n_bias`` of them), so the bias
    vector covers the leading rows and the rest get none.
    """

    gid: int
    source: str  # "x", "s{j}", "u{j}" or "v{k}"
    width: int  # columns of the weight matrix: m for x, else n
    members: tuple[int, ...]
    n_bias: int
    blocks: int = 0  # format 2: each member's matrix block upper triangular over g modules
    # head-wise projections (``heads`` > 1, n-wide sources only) form a group of their own per
    # source and head count: its parameter holds the blocks, (K, heads, n/heads, n/heads), and
    # the backends assemble the block-diagonal (K·n, n) matrix once per call
    heads: int = 1
    # format 2: the index in Plan.masks of the dropout mask multiplying the source before the
    # product (its owner names the parameters: weight_s0_ms0, weight_v5_ms0 ...), -1: none
    mask: int = -1
    mask_owner: str = ""

    @property
    def hoisted(self) -> bool:
        return self.source == "x"

    @property
    def _suffix(self) -> str:
        return f"_m{self.mask_owner}" if self.mask >= 0 else ""

    @property
    def weight_name(self) -> str:
        if self.heads > 1:
            return f"blocks{self.heads}_{self.source}{self._suffix}"
        return (f"weight_{self.source}" + (f"_tri{self.blocks}" if self.blocks else "")
                + self._suffix)

    @property
    def bias_name(self) -> str:
        if self.heads > 1:
            return f"bias{self.heads}_{self.source}{self._suffix}"
        return (f"bias_{self.source}" + (f"_tri{self.blocks}" if self.blocks else "")
                + self._suffix)


@dataclass(frozen=True)
class Mask:
    """A variational dropout mask (format 2): ``owner`` ``x`` or ``s{j}``, drop probability
    ``p``, ``width`` m or n. A layer draws each once per call (per sequence), (B, width), while
    training; the groups with ``mask`` = its index multiply their source by it."""

    owner: str
    p: float
    width: int


@dataclass(frozen=True)
class Step:
    """One node: ``v{pos} = op(args)``.

    For projections ``group``/``slot`` locate the rows of the fused product and ``diag_add`` is
    the constant ``a`` of Linear(a, ·) (``a·v`` is added to the product). ``slope`` is leaky
    relu's. ``op`` is ``proj`` for every projection with a matrix, ``copy`` for ``identity`` and
    for ``fit`` of an n-wide value.
    """

    pos: int
    op: str
    args: tuple[str, ...]
    group: int = -1
    slot: int = -1
    diag_add: float = 0.0
    slope: float = 0.0
    modules: int = 0  # clock: g and base (format 2)
    base: int = 0
    const: float = 0.0  # scale's factor ``by``, div's and norm's ``eps``
    weight: str = "free"  # diag: how its learned vector becomes the diagonal; norm: its kind
    heads: int = 1  # norm: groups of units normalised separately
    window: int = 0  # attention: the last K steps' values (0: every earlier step)
    # head-wise values (format 2): the shape of this value and of each argument (vector,
    # scalar, matrix; empty for a vector plan), and whether a head_linear ("hproj") has a bias
    shape: str = ""
    arg_shapes: tuple[str, ...] = ()
    bias: bool = False

    @property
    def out(self) -> str:
        return f"v{self.pos}"


@dataclass(frozen=True)
class Plan:
    n_states: int
    input_size: int
    hidden_size: int
    steps: tuple[Step, ...]
    groups: tuple[Group, ...]
    diags: tuple[int, ...]  # positions of diag nodes (each owns a parameter ``diag_v{k}``)
    new_states: tuple[str, ...]  # value ref of each new state, in the genome's state order
    output: str  # value ref of the output
    uses_xt: bool  # some step reads the raw step input (fit of x when m == n)
    node_names: tuple[str, ...]  # genome node name of each position, for humans only
    # Pre-added pairs: slot i < n_pairs of the x group and of state group ``pair_group`` are
    # only ever summed together (``W_i x + U_i h`` of every LSTM-like gate), so each step adds
    # the two products once, as one (B, n_pairs·n) sum; its slice i is the value ``r{i}``.
    pair_group: int = -1
    n_pairs: int = 0
    paired: tuple[int, ...] = ()  # positions of the projection nodes folded into pairs
    below: tuple[int, ...] = ()  # format 2: states j read as below:<state> (value u{j})
    # format 2: (gid, clock pos) of block-triangular groups whose product only feeds the
    # candidate of a clock with the same modules: at step t the script backend computes only
    # the rows of the active modules (a prefix of the units), skipping the sleeping ones'
    sleepy: tuple[tuple[int, int], ...] = ()
    # the path a layer of the plan runs (:func:`scan_path`): "scan: <why>" when every new state
    # is affine in its own previous value with input-only coefficients, else "step loop: <why>"
    path: str = ""
    # per step position: "free" (reads no state), "affine" (affine in the previous states)
    # or "late" (a nonlinear function of states that no new state reads: after the scan)
    scan_kinds: tuple[str, ...] = ()
    # format 2, spatial values: the convolution kernel K (0: vectors) and the map size (H, W)
    kernel: int = 0
    spatial: tuple[int, int] | None = None
    # format 2: the variational dropout masks (x's first, then the states' in order), drawn
    # in this order; empty: none
    masks: tuple[Mask, ...] = ()
    # format 2, head-wise values: the heads h (0: vectors) and each state's shape (vector,
    # scalar or matrix; see :mod:`lstm_search.genome._shapes`)
    heads: int = 0
    state_kinds: tuple[str, ...] = ()
    # head-wise values: xLSTM's stabilised matrix memory (:mod:`._memory`) or a gated memory
    # (:mod:`._gated`), run in chunks
    memory: MemorySpec | GatedSpec | None = None

    @property
    def state_shapes(self) -> tuple[tuple[int, ...], ...]:
        """The shape of each state of one sequence: :attr:`value_shape` for every state, or
        in a head-wise plan (h,) for a per-head scalar and (h, d, d) for a matrix."""
        if not self.heads:
            return tuple(self.value_shape for _ in range(self.n_states))
        h, d = self.heads, self.hidden_size // self.heads
        return tuple((h,) if k == "scalar" else (h, d, d) if k == "matrix" else (self.hidden_size,)
                     for k in self.state_kinds)

    @property
    def value_shape(self) -> tuple[int, ...]:
        """The shape of one hidden value of one sequence: (n,), or (n, H, W) when spatial."""
        if self.spatial is None:
            return (self.hidden_size,)
        return (self.hidden_size, *self.spatial)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one step's input of one sequence: (m,), or (m, H, W) when spatial."""
        if self.spatial is None:
            return (self.input_size,)
        return (self.input_size, *self.spatial)

    @property
    def scannable(self) -> bool:
        """Whether the layer runs as a parallel scan over the sequence (:mod:`._scan`)."""
        return self.path.startswith("scan:")

    @property
    def chunkwise(self) -> bool:
        """Whether the layer runs its matrix memory in chunks (:mod:`._memory`)."""
        return self.memory is not None

    @property
    def clocks(self) -> tuple[Step, ...]:
        """The clock steps (format 2), each with a schedule of its own."""
        return tuple(s for s in self.steps if s.op == "clock")

    @property
    def attentions(self) -> tuple[Step, ...]:
        """The attention steps (format 2), each with a memory of its own."""
        return tuple(s for s in self.steps if s.op == "attention")

    @property
    def format_2(self) -> bool:
        """Whether the plan uses what genome format 2 added (below:, clock, blocks,
        attention, spatial values, dropout masks)."""
        return bool(self.below or self.clocks or any(g.blocks for g in self.groups)
                    or self.attentions or self.kernel or self.masks or self.heads)

    @property
    def x_group(self) -> Group | None:
        return next((g for g in self.groups if g.hoisted), None)

    @property
    def step_groups(self) -> tuple[Group, ...]:
        return tuple(g for g in self.groups if not g.hoisted)


_POINTWISE = {"add", "mean", "mul", "sub", "blend", "one_minus", "sigmoid", "tanh", "relu",
              "leaky_relu", "identity", "diag"}
# -- ops of the modern recurrences (parameter-free, pointwise) ---------------------------------
_MODERN = {"exp", "log", "softplus", "logsigmoid", "max", "min", "div", "sqrt", "abs", "scale",
           "norm"}
_CONST = {"scale": "by", "div": "eps", "norm": "eps"}  # the parameter kept as Step.const
_POINTWISE |= _MODERN
_HEADWISE = {"outer", "matvec", "dot"}  # format 2's head-wise products (no parameters)
# -- end of the modern recurrences' ops ---------------------------------------------------------


def build_plan(genome: Genome, input_size: int, hidden_size: int,
               spatial: tuple[int, int] | None = None) -> Plan:
    """Plan one layer of ``genome`` for input width ``input_size`` and hidden width
    ``hidden_size`` (channels of a spatial cell, whose maps are ``spatial = (H, W)``: required
    for a spatial cell, refused for a vector one); raises :class:`GenomeError` (every problem)
    for an invalid genome."""
    if not isinstance(genome, Genome):
        raise TypeError(f"expected a Genome, got {type(genome).__name__}")
    for label, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{label} must be a positive int, got {v!r}")
    genome.check()
    spatial = check_spatial(genome, spatial)
    order = topo_order(genome)
    heads = genome.heads
    shapes: dict[str, str] = {}
    if heads:
        if hidden_size % heads:
            raise ValueError(f"{genome.name or 'this genome'} has {heads} heads, which do not "
                             f"divide the hidden size {hidden_size}")
        shapes = value_shapes(genome, order)[0]
    head_dim = hidden_size // heads if heads else hidden_size
    pos = {node.name: k for k, node in enumerate(order)}
    state_idx = {s: j for j, s in enumerate(genome.states)}

    def ref(name: str) -> str:
        if name == X:
            return "x"
        if name in state_idx:
            return f"s{state_idx[name]}"
        below = below_state(name)
        if below is not None:
            return f"u{state_idx[below]}"
        return f"v{pos[name]}"

    # format 2's dropout masks, x's first, then the states' in order
    owners = {}
    for node in order:
        dm = dropout_mask(node)
        if dm is not None:
            owners[ref(dm[0])] = dm[1]
    masks = tuple(Mask(o, owners[o], input_size if o == "x" else hidden_size)
                  for o in sorted(owners, key=lambda o: -1 if o == "x" else int(o[1:])))
    mask_of = {m.owner: i for i, m in enumerate(masks)}
    # Collect projections by source (blocks, head count and dropout mask: one structure of W
    # and one input each), in topological order.
    by_source: dict[tuple[str, int, int, int], list[tuple[int, bool]]] = {}
    for k, node in enumerate(order):
        if node.op == "linear" or (node.op == "fit" and node.inputs[0] == X
                                   and input_size != hidden_size):
            biased = node.op == "linear" and bool(node.param("bias"))
            blocks = int(node.param("blocks")) if node.op == "linear" else 0
            lheads = int(node.param("heads")) if node.op == "linear" else 1
            if hidden_size % lheads:
                raise ValueError(f"node {node.name!r}: {lheads} heads do not divide the hidden "
                                 f"size {hidden_size}")
            if blocks and lheads > 1:
                raise ValueError(f"node {node.name!r}: 'blocks' and 'heads' are two structures "
                                 "of W: set one of them")
            dm = dropout_mask(node)
            mask = mask_of[ref(dm[0])] if dm is not None else -1
            by_source.setdefault((ref(node.inputs[0]), blocks, lheads, mask), []).append(
                (k, biased))
    x_keys = [key for key in by_source if key[0] == "x"]
    if len({key[3] for key in x_keys}) > 1:
        raise ValueError("the projections of x must all take x's dropout mask or none (x has "
                         "one product over the whole sequence): " + ", ".join(
                             f"node {order[by_source[key][0][0]].name!r} "
                             + ("takes it" if key[3] >= 0 else "does not") for key in x_keys))
    groups: list[Group] = []
    where: dict[int, tuple[int, int]] = {}
    # x first, then states in order, then values below, then internal values by position:
    # a stable layout (a format-1 plan's is unchanged).
    def source_key(key: tuple[str, int, int, int]) -> tuple[int, int, int, int, int]:
        src, blocks, heads, mask = key
        rank = {"x": 0, "s": 1, "u": 2, "v": 3}[src[0]]
        return (rank, int(src[1:]) if src[1:] else 0, blocks, heads, mask)

    for src, blocks, gheads, mask in sorted(by_source, key=source_key):
        members = sorted(by_source[src, blocks, gheads, mask],
                         key=lambda kb: (not kb[1], kb[0]))
        gid = len(groups)
        groups.append(Group(gid, src, input_size if src == "x" else hidden_size,
                            tuple(k for k, _ in members), sum(b for _, b in members), blocks,
                            gheads, mask, masks[mask].owner if mask >= 0 else ""))
        for slot, (k, _) in enumerate(members):
            where[k] = (gid, slot)

    steps: list[Step] = []
    uses_xt = False
    diags: list[int] = []
    for k, node in enumerate(order):
        args = tuple(ref(a) for a in node.inputs)
        if heads:
            hw = {"shape": shapes[node.name],
                  "arg_shapes": tuple(shapes[a] for a in node.inputs)}
        else:
            hw = {}
        if node.op == "head_linear":
            steps.append(Step(k, "hproj", args, bias=bool(node.param("bias")), **hw))
        elif node.op in _HEADWISE:
            steps.append(Step(k, node.op, args, **hw))
        elif k in where:
            gid, slot = where[k]
            a = float(node.param("diag")) if node.op == "linear" else 0.0
            steps.append(Step(k, "proj", args, group=gid, slot=slot, diag_add=a))
        elif node.op in ("fit", "identity"):
            if args[0] == "x":  # fit of x when m == n: the raw step input
                uses_xt = True
                args = ("xt",)
            steps.append(Step(k, "copy", args))
        elif node.op == "clock":
            steps.append(Step(k, "clock", args, modules=int(node.param("modules")),
                              base=int(node.param("base"))))
        elif node.op == "attention":  # args: query, s{j} (the memory's state)
            steps.append(Step(k, "attention", args, window=int(node.param("window"))))
        elif node.op in _POINTWISE:
            if node.op == "diag":
                diags.append(k)
            slope = float(node.param("slope")) if node.op == "leaky_relu" else 0.0
            const = float(node.param(_CONST[node.op])) if node.op in _CONST else 0.0
            if node.op == "scale" and float(node.param("dim_power")):
                const *= float(head_dim) ** float(node.param("dim_power"))
            weight = (str(node.param("weight")) if node.op == "diag" else
                      str(node.param("kind")) if node.op == "norm" else "free")
            norm_heads = int(node.param("heads")) if node.op == "norm" else 1
            if hidden_size % norm_heads:
                raise ValueError(f"node {node.name!r}: {norm_heads} heads do not divide the "
                                 f"hidden size {hidden_size}")
            steps.append(Step(k, node.op, args, slope=slope, const=const, weight=weight,
                              heads=norm_heads, **hw))
        else:  # pragma: no cover - validation rejects unknown ops
            raise GenomeError([], f"op {node.op!r} has no compiler rule")
    steps, pair_gid, n_pairs, paired = _pair(steps, groups, order, genome, ref)
    sinks = {ref(genome.new_states[s]) for s in genome.states} | {ref(genome.output)}
    sleepy = _sleepy(steps, groups, pair_gid, n_pairs, sinks)
    new_states = tuple(ref(genome.new_states[s]) for s in genome.states)
    path, kinds = scan_path(steps, groups, new_states, pair_gid, genome.states,
                            tuple(node.name for node in order))
    if spatial is not None:
        path, kinds = "step loop: spatial values (genome format 2) run the step loop", ()
    elif masks and path.startswith("scan:"):
        path, kinds = ("step loop: variational dropout masks (genome format 2) run the step "
                       "loop"), ()
    memory = None
    if heads:
        if masks or pair_gid >= 0 or any(s.op in ("clock", "attention") for s in steps) \
                or any(a[0] == "u" for s in steps for a in s.args):
            path, kinds = "step loop: head-wise values (genome format 2) run the step loop", ()
        else:
            found = (steps, new_states, tuple(shapes[s] for s in genome.states),
                     genome.states, tuple(node.name for node in order))
            path, memory = memory_path(*found)
            if memory is None:  # not the stabilised form: a gated memory, else the loop's why
                path, memory = gated_path(*found)
            kinds = ()
    return Plan(
        n_states=len(genome.states),
        input_size=input_size,
        hidden_size=hidden_size,
        steps=tuple(steps),
        groups=tuple(groups),
        diags=tuple(diags),
        new_states=new_states,
        output=ref(genome.output),
        uses_xt=uses_xt,
        node_names=tuple(node.name for node in order),
        pair_group=pair_gid,
        n_pairs=n_pairs,
        paired=paired,
        below=tuple(sorted({int(a[1:]) for s in steps for a in s.args if a[0] == "u"}
                           | {int(g.source[1:]) for g in groups if g.source[0] == "u"})),
        sleepy=sleepy,
        path=path,
        scan_kinds=kinds,
        kernel=genome.kernel if spatial is not None else 0,
        spatial=spatial,
        masks=masks,
        heads=heads,
        state_kinds=tuple(shapes[s] for s in genome.states) if heads else (),
        memory=memory,
    )


def check_spatial(genome: Genome, spatial: object) -> tuple[int, int] | None:
    """``spatial`` as (H, W) for a spatial genome, None for a vector one; ValueError naming
    what is wrong otherwise (a spatial cell without a map size, a vector cell with one)."""
    if not genome.kernel:
        if spatial is not None:
            raise ValueError(f"spatial={spatial!r} was given for {genome.name or 'a genome'} "
                             "whose values are vectors (no \"values\": {\"kind\": \"spatial\"} "
                             "in the genome)")
        return None
    if spatial is None:
        raise ValueError(f"{genome.name or 'this genome'} has spatial values (a convolutional "
                         "cell): give the map size, spatial=(H, W)")
    if not isinstance(spatial, tuple | list) or len(spatial) != 2 or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in spatial):
        raise ValueError(f"spatial must be (H, W), two positive ints, got {spatial!r}")
    return (int(spatial[0]), int(spatial[1]))


# ops through which a value stays affine in the states whatever arguments carry one (mul: one
# affine factor; div: an affine numerator; blend: a state-free weight; see scan_path)
_AFFINE_ALL = {"add", "mean", "sub", "copy", "one_minus", "scale", "diag"}


def scan_path(steps: list[Step] | tuple[Step, ...], groups: list[Group] | tuple[Group, ...],
              new_states: tuple[str, ...], pair_group: int, state_names: tuple[str, ...],
              node_names: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """Whether a layer's recurrence is a diagonal linear one, ``s_t = a_t ⊙ s_{t-1} + b_t``
    with ``a_t``, ``b_t`` functions of ``x_t`` only, for every state (minGRU and minLSTM, Feng
    et al. 2024, "Were RNNs All We Needed?" eq. for h_t; HGRN, Qin et al. 2023; RG-LRU, De et
    al. 2024 eq. 4): then the whole sequence is one associative scan (Blelloch 1990, "Prefix
    sums and their applications", section 1.4: first-order linear recurrences).

    Returns ``("scan: ..." | "step loop: <reason>", kinds)`` with ``kinds[pos]`` of each step
    position: ``free`` (reads no state), ``affine`` (affine in the previous states) or
    ``late`` (a nonlinear function of the states that no new state needs: the output's, e.g.
    HGRN's norm of h', computed for all steps after the scan).
    """
    def name(ref: str) -> str:
        if ref[0] == "s":
            return f"state {state_names[int(ref[1:])]!r}"
        if ref[0] == "v":
            return f"node {node_names[int(ref[1:])]!r}"
        return ref

    if any(s.op == "clock" for s in steps):
        return "step loop: a clock schedules the units per step (genome format 2)", ()
    for s in steps:
        if s.op == "attention":  # its memory of earlier steps is loop state
            return (f"step loop: node {node_names[s.pos]!r} attends over earlier steps "
                    "(genome format 2)"), ()
    for g in groups:
        if g.source[0] == "s" or g.source[0] == "u":
            who = node_names[g.members[0]] if g.members else "?"
            what = name(g.source) if g.source[0] == "s" else f"the layer below ({g.source})"
            return f"step loop: node {who!r} projects {what} (a matrix product per step)", ()
    if pair_group >= 0:  # pragma: no cover - pairs need a state group, refused above
        return "step loop: a gate reads a state through a matrix", ()
    n_pos = 1 + max((s.pos for s in steps), default=-1)
    kinds = ["free"] * n_pos
    deps: dict[str, frozenset[int]] = {}  # the states an affine or late value reads

    def kind(ref: str) -> str:
        if ref[0] == "s":
            return "affine"
        if ref[0] == "v":
            return kinds[int(ref[1:])]
        return "free"  # x, xt, r{i}

    def reads(ref: str) -> frozenset[int]:
        if ref[0] == "s":
            return frozenset({int(ref[1:])})
        return deps.get(ref, frozenset())

    if any(a[0] == "u" for st in steps for a in st.args):
        return "step loop: a node reads the layer below's new state (genome format 2)", ()
    for st in steps:
        ks = [kind(a) for a in st.args]
        dep = frozenset().union(*(reads(a) for a in st.args)) if st.args else frozenset()
        if st.op == "proj":
            g = groups[st.group]
            if kind(g.source) != "free":
                return (f"step loop: node {node_names[st.pos]!r} projects {name(g.source)}, "
                        f"which reads {name(f's{min(reads(g.source) or {0})}')}"), ()
            continue
        if "late" in ks:
            kinds[st.pos], deps[st.out] = "late", dep
            continue
        if "affine" not in ks:
            continue
        n_aff = ks.count("affine")
        linear = (st.op in _AFFINE_ALL
                  or (st.op == "mul" and n_aff == 1)
                  or (st.op == "div" and ks[0] == "affine" and ks[1] == "free")
                  or (st.op == "blend" and ks[0] == "free"))
        kinds[st.pos] = "affine" if linear else "late"
        deps[st.out] = dep
    for j, ref in enumerate(new_states):
        k = kind(ref)
        if k == "late":
            why = _first_late(steps, kinds, ref, node_names)
            return (f"step loop: state {state_names[j]!r} is not affine in the states: {why}"), ()
        other = reads(ref) - {j}
        if other:
            return (f"step loop: state {state_names[j]!r} reads state "
                    f"{state_names[min(other)]!r} (only a diagonal recurrence of each state "
                    f"in itself is scanned)"), ()
    names = ", ".join(repr(s) for s in state_names)
    return (f"scan: no gate reads a state and each new state of {names} is "
            f"a_t ⊙ s + b_t with a_t, b_t from x_t alone", tuple(kinds))


def _first_late(steps: list[Step] | tuple[Step, ...], kinds: list[str], ref: str,
                node_names: tuple[str, ...]) -> str:
    """The first step on ``ref``'s cone that turns an affine value into a nonlinear one."""
    by_pos = {s.pos: s for s in steps}
    todo, seen = [ref], set()
    found: list[Step] = []
    while todo:
        r = todo.pop()
        if r[0] != "v" or r in seen:
            continue
        seen.add(r)
        st = by_pos[int(r[1:])]
        if kinds[st.pos] == "late" and not any(
                a[0] == "v" and kinds[int(a[1:])] == "late" for a in st.args):
            found.append(st)
        todo += list(st.args)
    st = min(found, key=lambda s: s.pos) if found else None
    if st is None:  # pragma: no cover - a late value has a first late step
        return "a nonlinear op"
    who = node_names[st.pos]
    if st.op in ("mul", "div", "blend"):
        return f"node {who!r} ({st.op}) multiplies state-dependent values together"
    return f"node {who!r} applies {st.op} to a state-dependent value"


def _sleepy(steps: list[Step], groups: list[Group], pair_gid: int, n_pairs: int,
            sinks: set[str]) -> tuple[tuple[int, int], ...]:
    """Block-triangular one-member groups of a previous state or a value below whose product
    reaches nothing but the candidate (first input) of one clock with as many modules, through
    row-wise steps only (not ``norm``), so a sleeping module's rows of the product are never
    used (the Clockwork RNN's W_H h, Koutník et al. 2014, section 2)."""
    consumers: dict[str, list[Step]] = {}
    for st in steps:
        for a in dict.fromkeys(st.args):
            consumers.setdefault(a, []).append(st)
    sources = {g.source for g in groups}
    out: list[tuple[int, int]] = []
    for g in groups:
        if not g.blocks or len(g.members) != 1 or g.source[0] not in "su":
            continue
        k = g.members[0]
        paired = g.gid == pair_gid and n_pairs > 0
        start = "r0" if paired else f"v{k}"
        clocks: set[int] = set()
        todo, seen, ok = [start], set(), True
        while todo and ok:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            if ref in sinks or ref in sources:
                ok = False
                break
            for st in consumers.get(ref, []):
                if st.op == "clock":
                    ok = ok and st.args[0] == ref and ref not in st.args[1:] \
                        and st.modules == g.blocks
                    clocks.add(st.pos)
                elif st.op in ("proj", "norm", "attention"):  # a source is refused above;
                    ok = False  # norm and attention mix the units: not row-wise
                else:  # row-wise: pointwise ops, copies, diagonal weights
                    todo.append(st.out)
        if ok and len(clocks) == 1:
            out.append((g.gid, clocks.pop()))
    return tuple(out)


def clock_mask(step: Step, hidden_size: int, steps: int, t0: int = 0,
               device: torch.device | None = None) -> torch.Tensor:
    """(steps, n) bool: whether unit u's module is active at step t0 + t (Koutník et al. 2014:
    module i, of period base^i, is active when t mod base^i == 0; t counts from 0)."""
    mask = torch.zeros(steps, hidden_size, dtype=torch.bool)
    start = 0
    period = 1
    for k in module_sizes(hidden_size, step.modules):
        first = (-t0) % period  # the first t >= 0 with (t0 + t) mod period == 0
        mask[first::period, start:start + k] = True
        start += k
        period = min(period * step.base, steps + t0 + 1)  # past the sequence: active at 0
    return mask.to(device) if device is not None else mask


def _pair(steps: list[Step], groups: list[Group], order: list, genome: Genome,
          ref: object) -> tuple[list[Step], int, int, tuple[int, ...]]:
    """Find the longest prefix of slots where x slot i and state-group slot i feed only one
    and the same ``add`` (and nothing else reads them); fold those sums into ``r{i}``."""
    xg = next((g for g in groups if g.hoisted), None)
    if xg is None:
        return steps, -1, 0, ()
    by_pos = {s.pos: s for s in steps}
    consumers: dict[str, list[int]] = {}
    for s in steps:
        for a in s.args:
            consumers.setdefault(a, []).append(s.pos)
    sinks = set(genome.new_states.values()) | {genome.output}
    free = {k for k in by_pos if by_pos[k].op == "proj" and not by_pos[k].diag_add
            and len(consumers.get(f"v{k}", [])) == 1 and order[k].name not in sinks}
    best: tuple[int, int] = (-1, 0)
    for g in groups:
        if g.source[0] != "s":
            continue
        k = 0
        used: set[int] = set()
        while k < min(len(g.members), len(xg.members)):
            a, b = xg.members[k], g.members[k]
            if a not in free or b not in free:
                break
            ca, cb = consumers[f"v{a}"][0], consumers[f"v{b}"][0]
            if ca != cb or by_pos[ca].op != "add" or ca in used \
                    or by_pos[ca].args.count(f"v{a}") != 1 \
                    or by_pos[ca].args.count(f"v{b}") != 1:
                break
            used.add(ca)  # one pair per add node
            k += 1
        if k > best[1]:
            best = (g.gid, k)
    gid, n_pairs = best
    if n_pairs == 0:
        return steps, -1, 0, ()
    g = groups[gid]
    folded: dict[int, int] = {}  # add node position -> pair index
    paired: list[int] = []
    for i in range(n_pairs):
        a, b = xg.members[i], g.members[i]
        folded[consumers[f"v{a}"][0]] = i
        paired += [a, b]
    out: list[Step] = []
    for s in steps:
        if s.pos in paired:
            continue
        if s.pos in folded:
            i = folded[s.pos]
            drop = {f"v{xg.members[i]}", f"v{g.members[i]}"}
            kept = [(a, k) for a, k in zip(s.args, s.arg_shapes or [""] * len(s.args),
                                           strict=True) if a not in drop]
            rest = tuple(a for a, _ in kept)
            args = (f"r{i}", *rest)
            # a head-wise plan keeps the shapes: the pair is a vector, the rest as they were
            shapes = ("vector", *(k for _, k in kept)) if s.arg_shapes else ()
            s = Step(s.pos, "add" if rest else "copy", args, shape=s.shape, arg_shapes=shapes)
        out.append(s)
    return out, gid, n_pairs, tuple(sorted(paired))
