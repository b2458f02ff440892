"""Named cells: PyTorch's RNN/LSTM/GRU, Greff's vanilla LSTM and its eight variants,
Jozefowicz's LSTM variants and evolved MUT1-3, the DARTS_V1, DARTS_V2 and ENAS cells of
DARTS' genotypes, the modern recurrences minGRU, minLSTM (Feng et al. 2024), RG-LRU
(De et al. 2024), HGRN (Qin et al. 2023) and sLSTM (Beck et al. 2024), and (genome format
version 2) the Depth-Gated LSTM, the Grid LSTM for sequences, the Clockwork RNN and an
LSTMN-style attentive LSTM, each a :class:`~lstm_search.genome.Genome` value; and one cell of
spatial values (genome format 2's ``values``), the convolutional LSTM (Shi et al. 2015), listed
by ``names(spatial=True)`` only, since it compiles with a map size (``spatial=(H, W)``).

Equations are those of ``shared/reference/cells.md``; notation: ``Wx`` a learned projection of
the input, ``Uh`` of the previous hidden state, ``p ⊙ c`` a peephole (diagonal weight).

>>> from lstm_search import zoo
>>> zoo.names()[:3]
('rnn_tanh', 'lstm', 'gru')
>>> zoo.get("cifg").name
'cifg'
"""

from __future__ import annotations

from collections.abc import Callable

from lstm_search.genome import DARTS_V1, DARTS_V2, ENAS, Builder, Genome, import_darts

# -- PyTorch conventions (two biases per gate), exact parity targets -------------------------


def _rnn_tanh() -> Genome:
    """torch.nn.RNN (tanh): h' = tanh(W x + b_ih + U h + b_hh); nm + n² + 2n parameters."""
    b = Builder(states=("h",))
    b.set_state("h", b.tanh(b.add(b.linear("x", name="x_h"), b.linear("h", name="h_h")),
                            name="h_new"))
    return b.build(name="rnn_tanh")


def _lstm() -> Genome:
    """torch.nn.LSTM (Hochreiter & Schmidhuber 1997; gate order i, f, g, o as in PyTorch):
    4nm + 4n² + 8n parameters."""
    b = Builder(states=("h", "c"))
    h_new, c_new = _lstm_step(b)
    b.set_state("h", h_new)
    b.set_state("c", c_new)
    return b.build(name="lstm")


def _lstm_step(b: Builder, *, h_bias: bool = True) -> tuple[str, str]:
    """The LSTM's gates and update on the builder's x, h and c, gate order i, f, g, o; the
    projections of h with a bias (torch's b_hh) unless ``h_bias`` is False. Returns the nodes
    (h', c')."""
    h_params = {} if h_bias else {"bias": False}

    def pre(g: str) -> str:
        return b.add(b.linear("x", name=f"x_{g}"), b.linear("h", name=f"h_{g}", **h_params),
                     name=f"{g}_pre")

    i = b.sigmoid(pre("i"), name="i")
    f = b.sigmoid(pre("f"), name="f")
    g = b.tanh(pre("g"), name="g")
    o = b.sigmoid(pre("o"), name="o")
    c_new = b.add(b.mul(f, "c", name="fc"), b.mul(i, g, name="ig"), name="c_new")
    return b.mul(o, b.tanh(c_new, name="tanh_c"), name="h_new"), c_new


def _gru() -> Genome:
    """torch.nn.GRU (Cho et al. 2014, PyTorch's form: r gates the projected h, bias included):
    3nm + 3n² + 6n parameters."""
    b = Builder(states=("h",))
    r = b.sigmoid(b.add(b.linear("x", name="x_r"), b.linear("h", name="h_r"), name="r_pre"),
                  name="r")
    z = b.sigmoid(b.add(b.linear("x", name="x_z"), b.linear("h", name="h_z"), name="z_pre"),
                  name="z")
    k = b.tanh(b.add(b.linear("x", name="x_n"), b.mul(r, b.linear("h", name="h_n"), name="rh"),
                     name="n_pre"), name="n")
    b.set_state("h", b.blend(z, "h", k, name="h_new"))  # z ⊙ h + (1 − z) ⊙ n
    return b.build(name="gru")


# -- Jozefowicz, Zaremba & Sutskever 2015 (one bias per gate, no peepholes) -----------------
# Their plain LSTM is exactly Greff's NP variant (same genome_id), so the zoo names it once: "np".


def _jozefowicz_lstm(name: str, *, forget_bias: float = 0.0, gates: str = "ifo") -> Genome:
    """Jozefowicz et al. 2015's LSTM; ``gates`` lists the gates kept (LSTM-f drops f, ...)."""
    b = Builder(states=("h", "c"))

    def pre(g: str, **params: float) -> str:
        return b.add(b.linear("x", name=f"x_{g}", **params),
                     b.linear("h", name=f"h_{g}", bias=False), name=f"{g}_pre")

    g = b.tanh(pre("g"), name="g")
    i = b.sigmoid(pre("i"), name="i") if "i" in gates else None
    f = b.sigmoid(pre("f", **({"bias_init": forget_bias} if forget_bias else {})),
                  name="f") if "f" in gates else None
    kept_c = b.mul(f, "c", name="fc") if f else "c"
    written = b.mul(i, g, name="ig") if i else g
    c_new = b.add(kept_c, written, name="c_new")
    tanh_c = b.tanh(c_new, name="tanh_c")
    if "o" in gates:
        o = b.sigmoid(pre("o"), name="o")
        h_new = b.mul(o, tanh_c, name="h_new")
    else:
        h_new = tanh_c
    b.set_state("h", h_new)
    b.set_state("c", c_new)
    return b.build(name=name)


def _mut1() -> Genome:
    """MUT1 (Jozefowicz et al. 2015): z = σ(W_xz x + b_z); r = σ(W_xr x + W_hr h + b_r);
    h' = tanh(W_hh (r ⊙ h) + tanh(x) + b_h) ⊙ z + h ⊙ (1 − z)."""
    b = Builder(states=("h",))
    z = b.sigmoid(b.linear("x", name="x_z"), name="z")
    r = b.sigmoid(b.add(b.linear("x", name="x_r"), b.linear("h", name="h_r", bias=False)),
                  name="r")
    rh = b.linear(b.mul(r, "h", name="rh"), name="u_rh")
    cand = b.tanh(b.add(rh, b.tanh(b.fit("x", name="x_fit"), name="tanh_x")), name="cand")
    b.set_state("h", b.blend(z, cand, "h", name="h_new"))
    return b.build(name="mut1")


def _mut2() -> Genome:
    """MUT2 (Jozefowicz et al. 2015): z = σ(W_xz x + W_hz h + b_z); r = σ(x + W_hr h + b_r);
    h' = tanh(W_hh (r ⊙ h) + W_xh x + b_h) ⊙ z + h ⊙ (1 − z)."""
    b = Builder(states=("h",))
    z = b.sigmoid(b.add(b.linear("x", name="x_z"), b.linear("h", name="h_z", bias=False)),
                  name="z")
    r = b.sigmoid(b.add(b.fit("x", name="x_fit"), b.linear("h", name="h_r")), name="r")
    cand = b.tanh(b.add(b.linear(b.mul(r, "h", name="rh"), name="u_rh"),
                        b.linear("x", name="x_h", bias=False)), name="cand")
    b.set_state("h", b.blend(z, cand, "h", name="h_new"))
    return b.build(name="mut2")


def _mut3() -> Genome:
    """MUT3 (Jozefowicz et al. 2015): z = σ(W_xz x + W_hz tanh(h) + b_z);
    r = σ(W_xr x + W_hr h + b_r); h' = tanh(W_hh (r ⊙ h) + W_xh x + b_h) ⊙ z + h ⊙ (1 − z)."""
    b = Builder(states=("h",))
    z = b.sigmoid(b.add(b.linear("x", name="x_z"),
                        b.linear(b.tanh("h", name="tanh_h"), name="h_z", bias=False)), name="z")
    r = b.sigmoid(b.add(b.linear("x", name="x_r"), b.linear("h", name="h_r", bias=False)),
                  name="r")
    cand = b.tanh(b.add(b.linear(b.mul(r, "h", name="rh"), name="u_rh"),
                        b.linear("x", name="x_h", bias=False)), name="cand")
    b.set_state("h", b.blend(z, cand, "h", name="h_new"))
    return b.build(name="mut3")


# -- Greff et al. 2015, "LSTM: A Search Space Odyssey" --------------------------------------


def _greff(name: str, change: str = "") -> Genome:
    """Greff et al. 2015's vanilla LSTM (eq. 1-6: peepholes, one bias per gate, the output
    gate's peephole reads the new cell state) with one ``change``: nig, nfg, nog, niaf, noaf,
    np, cifg or fgr (Table 1 of the paper)."""
    fgr = change == "fgr"
    b = Builder(states=("h", "c", "i", "f", "o") if fgr else ("h", "c"))
    peep = change != "np"

    def gate(g: str, cell: str) -> str:
        terms = [b.linear("x", name=f"x_{g}"), b.linear("h", name=f"h_{g}", bias=False)]
        if peep:
            terms.append(b.diag(cell, name=f"p_{g}"))
        if fgr:  # full gate recurrence: U_{g i} i_prev + U_{g f} f_prev + U_{g o} o_prev
            terms += [b.linear(s, name=f"{s}_{g}", bias=False) for s in ("i", "f", "o")]
        return b.sigmoid(b.add(*terms, name=f"{g}_pre"), name=f"{g}_gate")

    z_pre = b.add(b.linear("x", name="x_z"), b.linear("h", name="h_z", bias=False), name="z_pre")
    z = z_pre if change == "niaf" else b.tanh(z_pre, name="z")
    i = None if change == "nig" else gate("i", "c")
    if change == "cifg":
        f = b.one_minus(i, name="f_gate")  # coupled: f = 1 − i
    elif change == "nfg":
        f = None
    else:
        f = gate("f", "c")
    written = b.mul(z, i, name="zi") if i else z
    kept = b.mul("c", f, name="cf") if f else "c"
    c_new = b.add(written, kept, name="c_new")
    act = c_new if change == "noaf" else b.tanh(c_new, name="tanh_c")
    if change == "nog":
        h_new = act
    else:
        o = gate("o", c_new)
        h_new = b.mul(act, o, name="h_new")
    b.set_state("h", h_new)
    b.set_state("c", c_new)
    if fgr:
        b.set_state("i", i)
        b.set_state("f", f)
        b.set_state("o", o)
    return b.build(name=name)


# -- the seed systems beyond one cell (genome format version 2) -----------------------------


def _depth_gated() -> Genome:
    """Depth-Gated LSTM (Yao, Cohn, Vylomova, Duh, Dyer 2015, arXiv:1508.03790, eq. 1-7).

    Layer L+1 reads layer L's output as its input x and layer L's new memory cell ``c^L_t``
    (``below:c``) through a depth gate d::

        i  = σ(W_i x + U_i h + p_i ⊙ c + b_i)          (peepholes diagonal, Graves 2013)
        f  = σ(W_f x + U_f h + p_f ⊙ c + b_f)
        d  = σ(W_d x + p_cd ⊙ c + p_ld ⊙ c^L_t + b_d)   (the depth gate)
        c' = d ⊙ c^L_t + f ⊙ c + i ⊙ tanh(W_c x + U_c h + b_c)
        o  = σ(W_o x + U_o h + p_o ⊙ c' + b_o)
        h' = o ⊙ tanh(c')

    Per layer ``5nm + 4n² + 10n`` parameters (a peephole LSTM's 4nm + 4n² + 7n, and the
    depth gate's nm + 3n). The first layer has no layer below: ``below:c`` is zeros there, so
    it computes a peephole LSTM (Greff et al.'s vanilla) whatever its depth-gate weights.
    ``compile_rnn(zoo.get("depth_gated"), m, n, num_layers=L)`` is the Depth-Gated stack.
    """
    b = Builder(states=("h", "c"))
    c_below = b.below("c")

    def gate(g: str, cell: str, recurrent: bool = True) -> str:
        terms = [b.linear("x", name=f"x_{g}")]
        if recurrent:
            terms.append(b.linear("h", name=f"h_{g}", bias=False))
        terms.append(b.diag(cell, name=f"p_{g}"))
        if g == "d":
            terms.append(b.diag(c_below, name="p_ld"))
        return b.sigmoid(b.add(*terms, name=f"{g}_pre"), name=f"{g}_gate")

    z = b.tanh(b.add(b.linear("x", name="x_z"), b.linear("h", name="h_z", bias=False),
                     name="z_pre"), name="z")
    i = gate("i", "c")
    f = gate("f", "c")
    d = gate("d", "c", recurrent=False)
    c_new = b.add(b.mul(d, c_below, name="dc_below"), b.mul(f, "c", name="fc"),
                  b.mul(i, z, name="iz"), name="c_new")
    o = gate("o", c_new)
    h_new = b.mul(o, b.tanh(c_new, name="tanh_c"), name="h_new")
    b.set_state("h", h_new)
    b.set_state("c", c_new)
    return b.build(name="depth_gated")


def _grid_lstm() -> Genome:
    """Grid LSTM for sequences (Kalchbrenner, Danihelka, Graves 2015, arXiv:1507.01526,
    sec. 2-3): the 2-D Grid LSTM applied to a 1-D sequence, an LSTM along time and one along
    depth.

    The block at step t of layer l reads H = [h^time_{t-1,l} ; h^depth_{t,l-1}]: the time
    hidden vector is the state ``h``, the depth hidden vector is the layer's input x (the
    layer below's output). Two LSTM transforms with separate weights, each with the paper's
    ``h' = tanh(o ⊙ m')`` (eq. 1-2; tanh of the gated memory, not o ⊙ tanh(m'))::

        for k in (time, depth):
            i_k = σ(W_k^i x + U_k^i h + b_k^i),   f_k = σ(W_k^f x + U_k^f h + b_k^f)
            o_k = σ(W_k^o x + U_k^o h + b_k^o),   g_k = tanh(W_k^c x + U_k^c h + b_k^c)
        m'  = f_time ⊙ m + i_time ⊙ g_time         h'  = tanh(o_time ⊙ m')      (time)
        md' = f_depth ⊙ m^depth_{t,l-1} + i_depth ⊙ g_depth
        hd' = tanh(o_depth ⊙ md')                                                 (depth)

    States ``h``, ``m`` (time) and ``md`` (depth memory: read by the layer above as
    ``below:md``, never across steps, so its initial value is unused); the layer's output,
    the next layer's x, is hd'. Per layer ``8nm + 8n² + 8n`` parameters (two LSTM transforms
    of 4 gates over H, one bias per gate; the paper writes the transforms without biases).

    The first layer (a documented choice): the paper projects the input into the first depth
    hidden vector h^depth_{t,0}; here the first layer reads the m-wide input x directly
    through its own matrices W_k, which for m ≤ n is the same family of functions as a
    projection followed by n-wide depth weights; its memory from below is zeros. The paper's
    tied Grid LSTM (weights shared across depth) is ``compile_rnn(zoo.get("grid_lstm"), m, n,
    num_layers=L, tie_layers=True)``: layers 2..L share one set (all L layers when m == n;
    put a projection before the stack for the paper's exact tied form with m ≠ n).
    """
    b = Builder(states=("h", "m", "md"))

    def lstm(k: str, memory: str) -> tuple[str, str]:
        def pre(g: str) -> str:
            return b.add(b.linear("x", name=f"{k}_x_{g}"),
                         b.linear("h", name=f"{k}_h_{g}", bias=False), name=f"{k}_{g}_pre")

        i = b.sigmoid(pre("i"), name=f"{k}_i")
        f = b.sigmoid(pre("f"), name=f"{k}_f")
        o = b.sigmoid(pre("o"), name=f"{k}_o")
        g = b.tanh(pre("c"), name=f"{k}_g")
        m_new = b.add(b.mul(f, memory, name=f"{k}_fm"), b.mul(i, g, name=f"{k}_ig"),
                      name=f"{k}_m_new")
        return b.tanh(b.mul(o, m_new, name=f"{k}_om"), name=f"{k}_h_new"), m_new

    h_new, m_new = lstm("t", "m")
    hd_new, md_new = lstm("d", b.below("md"))
    b.set_state("h", h_new)
    b.set_state("m", m_new)
    b.set_state("md", md_new)
    return b.build(output=hd_new, name="grid_lstm")


CLOCKWORK_MODULES = 4  # the zoo's g: periods 1, 2, 4, 8


def clockwork(modules: int = CLOCKWORK_MODULES, base: int = 2, name: str = "clockwork"
              ) -> Genome:
    """Clockwork RNN (Koutník, Greff, Gomez, Schmidhuber 2014, ICML, eq. 1-2).

    The n hidden units form g = ``modules`` modules (fastest first, module i of period
    ``T_i = base^i``: 1, 2, 4, ... by default); at step t (0-based) module i is active when
    ``t mod T_i == 0``::

        active i:    h'_(i) = tanh(W_I(i) x + W_H(i) h + b_(i))
        inactive i:  h'_(i) = h_(i)

    with W_H block upper triangular (module i reads modules j ≥ i: itself and the slower
    ones). ``nm + n + k²·g(g+1)/2`` parameters with k = n/g units per module (when g does
    not divide n the first n mod g modules take one unit more: ``nm + n + (n² + Σ k_i²)/2``).
    The zoo's ``clockwork`` has g = 4; the paper chooses g per task.
    """
    b = Builder(states=("h",))
    pre = b.add(b.linear("x", name="x_h"), b.linear("h", name="h_h", bias=False,
                                                      blocks=modules), name="pre")
    cand = b.tanh(pre, name="cand")
    b.set_state("h", b.clock(cand, "h", modules=modules, base=base, name="h_new"))
    return b.build(name=name)


ATTENTION_WINDOW = 8  # the zoo's lstm_attention: the last 8 hidden states


def lstm_attention(window: int = ATTENTION_WINDOW, name: str = "lstm_attention") -> Genome:
    """An LSTM whose gates read an attention context over its own earlier hidden states, after
    the LSTMN (Cheng, Dong & Lapata 2016, "Long Short-Term Memory-Networks for Machine
    Reading", EMNLP, eq. 3-7; genome format version 2's ``attention`` op)::

        q_t  = W_qx x_t + W_qh h_{t-1}                          (no bias)
        a_ti = vᵀ tanh(W_k h_i + q_t),  i = t−K .. t−1 (i ≥ 0)  (eq. 3, additive scores)
        α_t  = softmax(a_t)                                     (eq. 4)
        h̃_t  = Σ_i α_ti h_i,  h̃_0 = 0                           (eq. 5, over the tape of h)
        i, f, o = σ(W_* x_t + U_* h̃_t + b_*),  ĉ = tanh(W_c x_t + U_c h̃_t + b_c)
        c_t  = f ⊙ c_{t-1} + i ⊙ ĉ,  h_t = o ⊙ tanh(c_t)

    K = ``window`` (default 8; 0: every earlier step). Where the LSTMN's query reads the
    previous context h̃_{t-1} this one reads h_{t-1}, and the memory cell keeps the plain
    c_{t-1} instead of the LSTMN's attended c̃_t (the attention here is over h alone: the
    hidden-state tape, as in Daniluk et al. 2017's attentive LSTM). The memory starts empty
    with every sequence (h̃_0 = 0, so the first step is an LSTM step from h̃ = 0; the initial
    h reaches only that step's unused query: it has no effect, the initial c does).
    Parameters: ``5nm + 6n² + 5n`` (query nm + n², attention n² + n, four gates
    4(nm + n² + n)).
    """
    b = Builder(states=("h", "c"))
    q = b.add(b.linear("x", name="q_x", bias=False), b.linear("h", name="q_h", bias=False),
              name="query")
    ctx = b.attention(q, "h", window=window, name="h_tilde")

    def pre(g: str) -> str:
        return b.add(b.linear("x", name=f"x_{g}"), b.linear(ctx, name=f"u_{g}", bias=False),
                     name=f"{g}_pre")

    i = b.sigmoid(pre("i"), name="i")
    f = b.sigmoid(pre("f"), name="f")
    g = b.tanh(pre("g"), name="g")
    o = b.sigmoid(pre("o"), name="o")
    c_new = b.add(b.mul(f, "c", name="fc"), b.mul(i, g, name="ig"), name="c_new")
    b.set_state("c", c_new)
    b.set_state("h", b.mul(o, b.tanh(c_new, name="tanh_c"), name="h_new"))
    return b.build(output_state="h", name=name)


def lstm_attentive_readout(window: int = ATTENTION_WINDOW,
                           name: str = "lstm_attentive_readout") -> Genome:
    """An LSTM whose output attends over its own last K outputs: the attentive language model
    of Daniluk, Rocktäschel, Welbl & Riedel 2017 ("Frustratingly Short Attention Spans in
    Neural Language Modeling", ICLR, section 2.1, eq. 1-3; genome format version 2's
    ``attention`` op at the read-out instead of in the gates)::

        c_t, h_t = LSTM(x_t, h_{t-1}, c_{t-1})                (the plain LSTM, gates on h_{t-1})
        M_t  = tanh(W_Y Y_t + (W_h h_t) 1ᵀ),  Y_t = [h_{t−K} … h_{t−1}]      (eq. 1)
        α_t  = softmax(wᵀ M_t)                                               (eq. 2)
        r_t  = Y_t α_tᵀ                                                      (eq. 3)
        h*_t = tanh(W_r r_t + W_x h_t)                        (the layer's output)

    K = ``window`` (default 8; the paper finds the best spans short, 5-10 words; 0: every
    earlier step). The recurrence is untouched: h_t and c_t are the LSTM's, and h*_t goes to the
    next layer or the softmax only. The memory starts empty with every call (a language model's
    truncated backpropagation chunk), so r_0 = 0 and the first step's output is tanh(W_x h_0').
    No bias in the attention or the read-out, as in the paper's equations.
    Parameters: ``4nm + 8n² + 5n`` (the LSTM 4(nm + n² + n), W_h n², attention W_Y and w
    n² + n, read-out W_r and W_x 2n²).
    """
    b = Builder(states=("h", "c"))
    h_new, c_new = _lstm_step(b, h_bias=False)
    b.set_state("c", c_new)
    b.set_state("h", h_new)
    q = b.linear(h_new, name="query", bias=False)
    r = b.attention(q, "h", window=window, name="r")
    out = b.tanh(b.add(b.linear(r, name="w_r", bias=False),
                       b.linear(h_new, name="w_x", bias=False), name="out_pre"), name="h_star")
    return b.build(output=out, name=name)


CONVLSTM_KERNEL = 3  # the zoo's convlstm: 3×3 convolutions


def convlstm(kernel: int = CONVLSTM_KERNEL, name: str = "convlstm") -> Genome:
    """The convolutional LSTM (Shi, Chen, Wang, Yeung, Wong, Woo 2015, "Convolutional LSTM
    Network: A Machine Learning Approach for Precipitation Nowcasting", NeurIPS, eq. 3), every
    value a (C, H, W) map (genome format 2's ``"values": {"kind": "spatial", "kernel": K}``)::

        i_t = σ(W_xi * X_t + W_hi * H_{t-1} + W_ci ∘ C_{t-1} + b_i)
        f_t = σ(W_xf * X_t + W_hf * H_{t-1} + W_cf ∘ C_{t-1} + b_f)
        C_t = f_t ∘ C_{t-1} + i_t ∘ tanh(W_xc * X_t + W_hc * H_{t-1} + b_c)
        o_t = σ(W_xo * X_t + W_ho * H_{t-1} + W_co ∘ C_t + b_o)
        H_t = o_t ∘ tanh(C_t)

    ``*`` a K×K convolution with 'same' zero padding (K = ``kernel``, default 3; Shi et al.'s
    Moving MNIST networks used 5×5: ``convlstm(5)``), ``∘`` the Hadamard product: the
    peepholes ``W_c* ∘ C`` have one weight per channel and position. It is Greff et al.'s
    vanilla LSTM (``zoo.get("vanilla")``) with spatial values. Parameters per layer, with m
    input channels, n hidden channels and maps of H×W: ``4nK²(m + n) + 4n + 3nHW``
    (convolutions of X and H per gate and candidate, one bias each, three peephole maps).
    """
    b = _greff(name)
    return b.replace(values={"kind": "spatial", "kernel": kernel})


SPATIAL_CELLS: tuple[str, ...] = ("convlstm",)


# -- modern recurrences: minGRU / minLSTM, RG-LRU, HGRN, sLSTM -----------------------------------
# Each is the recurrent cell alone: the layer's output projection, the block around it (Conv1D,
# gated MLP branch, norms) and any parallel-scan training path are outside the cell; the step
# loop computes the same numbers as the papers' sequential and log-space parallel forms.


def _min_g(b: Builder, v: str, name: str) -> str:
    """Feng et al. 2024's g(v) = v + 0.5 for v ≥ 0, σ(v) for v < 0 (positive, continuous),
    written relu(v) + σ(v − relu(v)) (min(v, 0) = v − relu(v))."""
    r = b.relu(v, name=f"{name}_pos")
    return b.add(r, b.sigmoid(b.sub(v, r, name=f"{name}_neg"), name=f"{name}_sig"), name=name)


def _mingru() -> Genome:
    """minGRU (Feng et al. 2024, "Were RNNs All We Needed?", the log-space version of
    BorealisAI/minRNNs): gates and candidate read only the input, so the recurrence is affine
    in h (a parallel scan can compute it):

        z  = σ(W_z x + b_z)
        h̃  = g(W_h x + b_h)          g(v) = v + 0.5 (v ≥ 0), σ(v) (v < 0)
        h' = (1 − z) ⊙ h + z ⊙ h̃

    2nm + 2n parameters (the official layer's ``to_hidden_and_gate``; its ``to_out`` projection
    is the model's, not the cell's)."""
    b = Builder(states=("h",))
    z = b.sigmoid(b.linear("x", name="x_z"), name="z")
    h_tilde = _min_g(b, b.linear("x", name="x_h"), "h_tilde")
    b.set_state("h", b.blend(z, h_tilde, "h", name="h_new"))
    return b.build(name="mingru")


def _minlstm() -> Genome:
    """minLSTM (Feng et al. 2024, normalised gates, ``use_coeff_norm`` of BorealisAI/minRNNs):

        f  = σ(W_f x + b_f),  i = σ(W_i x + b_i)
        f' = f / (f + i),     i' = i / (f + i) = 1 − f'
        h̃  = g(W_h x + b_h)
        h' = f' ⊙ h + i' ⊙ h̃

    3nm + 3n parameters."""
    b = Builder(states=("h",))
    f = b.sigmoid(b.linear("x", name="x_f"), name="f")
    i = b.sigmoid(b.linear("x", name="x_i"), name="i")
    f_norm = b.div(f, b.add(f, i, name="f_plus_i"), name="f_norm")
    h_tilde = _min_g(b, b.linear("x", name="x_h"), "h_tilde")
    b.set_state("h", b.blend(f_norm, "h", h_tilde, name="h_new"))
    return b.build(name="minlstm")


RGLRU_C = 8.0  # Griffin's constant c in a_t = a^(c r_t)


def _rglru() -> Genome:
    """RG-LRU, the Real-Gated Linear Recurrent Unit of Griffin (De et al. 2024, eq. 1-4;
    google-deepmind/recurrentgemma ``RGLRU``), with c = 8:

        u   = fit(x)                          (x itself when m == n)
        r   = σ(W_a x + b_a),  i = σ(W_x x + b_x)
        log a_t = −c · r ⊙ softplus(Λ)        (a = σ(−Λ), a_t = a^(c r))
        h'  = a_t ⊙ h + √(1 − a_t²) ⊙ (i ⊙ u)

    2nm + 2n + n parameters (+ nm for fit when m ≠ n). Left out: the gates' block-diagonal
    heads (dense here: one head), the reset of a segment's first step (there the official
    layer uses a multiplier of 1 and ignores h), Λ's ring initialisation, and the bounded
    derivative of √ (the official clips it at 1000; equal when 1 − a_t² ≥ 2.5e-7)."""
    b = Builder(states=("h",))
    u = b.fit("x", name="u")
    r = b.sigmoid(b.linear("x", name="x_a"), name="r")
    i = b.sigmoid(b.linear("x", name="x_x"), name="i")
    log_a = b.scale(b.diag(r, weight="softplus", name="r_softplus_lambda"), -RGLRU_C,
                    name="log_a")
    a = b.exp(log_a, name="a")
    a_sq = b.exp(b.scale(log_a, 2.0, name="two_log_a"), name="a_sq")
    mult = b.sqrt(b.one_minus(a_sq, name="one_minus_a_sq"), name="mult")
    b.set_state("h", b.add(b.mul(a, "h", name="ah"), b.mul(u, i, mult, name="normalized_x"),
                           name="h_new"))
    return b.build(name="rglru")


def _hgrn() -> Genome:
    """HGRN (Qin et al. 2023, "Hierarchically Gated Recurrent Neural Network for Sequence
    Modeling"; real-valued as in flash-linear-attention's ``HGRNAttention``, bias-free
    projections):

        f  = γ + (1 − γ) ⊙ σ(W_f x)          γ = 1 − σ(p): the lower bound, learned per unit
        h' = f ⊙ h + (1 − f) ⊙ silu(W_i x)
        y  = w ⊙ rmsnorm(h') ⊙ silu(W_g x)   output gate (fla's FusedRMSNormSwishGate, eps 1e-5)

    3nm + 2n parameters. Left out: the output projection (the model's), and the hierarchy
    itself: HGRN makes γ a cumulative softmax over layers (0 in the first layer, growing with
    depth), which no single cell can express; here each layer learns its own γ in (0, 1),
    starting near 0.5 (and the norm's weight w starts uniform, not at 1)."""
    b = Builder(states=("h",))
    mu = b.sigmoid(b.linear("x", name="x_f", bias=False), name="mu")
    # f = γ + (1 − γ) μ = 1 − (1 − γ)(1 − μ), with 1 − γ = σ(p)
    keep = b.diag(b.one_minus(mu, name="one_minus_mu"), weight="sigmoid", name="one_minus_f")
    f = b.one_minus(keep, name="f")
    c = b.linear("x", name="x_i", bias=False)
    silu_c = b.mul(c, b.sigmoid(c, name="sig_c"), name="silu_c")
    h_new = b.add(b.mul(f, "h", name="fh"), b.mul(keep, silu_c, name="i"), name="h_new")
    b.set_state("h", h_new)
    g = b.linear("x", name="x_g", bias=False)
    normed = b.diag(b.norm(h_new, name="rms_h", kind="rms"), name="norm_weight")
    out = b.mul(normed, g, b.sigmoid(g, name="sig_g"), name="y")
    return b.build(output=out, name="hgrn")


def slstm(heads: int = 1) -> Genome:
    """sLSTM (Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory", eq. 8-17; NX-AI/xlstm
    ``slstm_forward_pointwise``): an exponential input gate, a sigmoid forget gate, a normaliser
    state n and a stabiliser state m, so that exp never overflows:

        ĩ, f̃, z̃, õ = W_g x + R_g y + b_g                 (g = i, f, z, o; R without bias)
        m' = max(log σ(f̃) + m, ĩ)
        i  = exp(ĩ − m'),   f = exp(log σ(f̃) + m − m')
        c' = f ⊙ c + i ⊙ tanh(z̃),   n' = f ⊙ n + i
        y' = σ(õ) ⊙ c' / n'

    States y, c, n, m (all start at 0); 4nm + 4n²/k + 4n parameters with ``heads`` = k: each
    R_g is block diagonal, k blocks of (n/k, n/k), xLSTM's head-wise recurrent matrix (the zoo's
    ``slstm`` has one head: R dense; k must divide n). The official code takes m' = ĩ at the
    first step (when n is 0),
    which rescales c, n and m by the same factor and leaves every output y unchanged.
    Left out: the block around the cell (its causal convolution feeding i and f, the
    head-wise input projections (dense here), the group norm and the gated MLP)."""
    b = Builder(states=("y", "c", "n", "m"))
    r_params = {"heads": heads} if heads != 1 else {}

    def pre(g: str) -> str:
        return b.add(b.linear("x", name=f"x_{g}"),
                     b.linear("y", name=f"y_{g}", bias=False, **r_params), name=f"{g}_raw")

    i_raw, f_raw, z_raw, o_raw = pre("i"), pre("f"), pre("z"), pre("o")
    log_f_plus_m = b.add("m", b.logsigmoid(f_raw, name="log_f"), name="log_f_plus_m")
    m_new = b.maximum(i_raw, log_f_plus_m, name="m_new")
    i = b.exp(b.sub(i_raw, m_new, name="i_log"), name="i")
    f = b.exp(b.sub(log_f_plus_m, m_new, name="f_log"), name="f")
    c_new = b.add(b.mul(f, "c", name="fc"), b.mul(i, b.tanh(z_raw, name="z"), name="iz"),
                  name="c_new")
    n_new = b.add(b.mul(f, "n", name="fn"), i, name="n_new")
    y_new = b.div(b.mul(b.sigmoid(o_raw, name="o"), c_new, name="oc"), n_new, name="y_new")
    for state, value in (("y", y_new), ("c", c_new), ("n", n_new), ("m", m_new)):
        b.set_state(state, value)
    return b.build(output_state="y", name="slstm" if heads == 1 else f"slstm_h{heads}")


MLSTM_FORGET_BIAS = 3.0  # the official code starts the forget biases at linspace(3, 6)
MLSTM_EPS = 1e-6  # added to the normaliser, as the official recurrent step does


def mlstm(heads: int = 1) -> Genome:
    """mLSTM (Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory", section 2.3, eq.
    19-27), stepped as NX-AI/xlstm's ``recurrent_step_stabilized_simple``
    (``xlstm/blocks/mlstm/backends.py``): per head (d = n/heads units), a matrix memory C,
    a normaliser n and a stabiliser m, with exponential input and sigmoid forget gates::

        q = W_q x,   k = W_k x / √d,   v = W_v x,   o = σ(W_o x + b_o)       (n wide)
        ĩ = w_iᵀ x + b_i,   f̃ = w_fᵀ x + b_f                               (one per head)
        m' = max(log σ(f̃) + m, ĩ)
        i = exp(ĩ − m'),   f = exp(log σ(f̃) + m − m')
        C' = f C + i v kᵀ,   n' = f n + i k
        h̃ = C' q / (max(|n'ᵀ q|, exp(−m')) + 1e-6),   h = o ⊙ h̃

    A genome of head-wise values (format 2's ``"values": {"kind": "heads", "heads": h}``):
    states C (a (h, d, d) matrix), n (n wide) and m (one per head), all starting at 0 as in
    the official code. The official step stores kᵀv and reads qᵀC, the transpose of the
    paper's C = v kᵀ read as C q; the outputs are the same. No gate reads the previous
    output: the cell has no hidden-to-hidden weights. Parameters (m inputs, n units, h
    heads): ``4nm + n + 2h(m + 1)`` (q, k, v, o: n×m each, o's bias; ĩ, f̃: a row and a bias
    per head). The forget biases start at 3 (the official code: linspace(3, 6) over the
    heads), the rest uniform like every weight.

    Kept: the cell's equations with the paper's output gate o (eq. 26; the official cell
    leaves it to the block, whose gate reads the block's own z branch). Left out: the block
    around the cell (the up-projection by 2, the causal convolution and swish feeding q and
    k, the learnable skip, the head-wise group norm of h̃ with its learned scale, and the
    down-projection); q, k, v are dense projections of x here (head-wise block-diagonal
    ones in the official block), ĩ and f̃ read x (the concatenated q, k, v in the official
    cell), and q, k, v have no bias (the official default; the paper writes b_q, b_k,
    b_v). The compiler recognises the memory and runs it in the official parallel form cut
    into chunks (:mod:`lstm_search.compile._memory`), not step by step: the same outputs."""
    b = Builder(states=("C", "n", "m"))
    q = b.linear("x", name="q", bias=False)
    k = b.scale(b.linear("x", name="k_raw", bias=False), 1.0, dim_power=-0.5, name="k")
    v = b.linear("x", name="v", bias=False)
    o = b.sigmoid(b.linear("x", name="o_raw"), name="o")
    i_raw = b.head_linear("x", name="i_raw")
    f_raw = b.head_linear("x", name="f_raw", bias_init=MLSTM_FORGET_BIAS)
    log_f_plus_m = b.add(b.logsigmoid(f_raw, name="log_f"), "m", name="log_f_plus_m")
    m_new = b.maximum(log_f_plus_m, i_raw, name="m_new")
    f = b.exp(b.sub(log_f_plus_m, m_new, name="f_log"), name="f")
    i = b.exp(b.sub(i_raw, m_new, name="i_log"), name="i")
    c_new = b.add(b.mul(f, "C", name="fC"), b.mul(i, b.outer(v, k, name="vk"), name="ivk"),
                  name="C_new")
    n_new = b.add(b.mul(f, "n", name="fn"), b.mul(i, k, name="ik"), name="n_new")
    qn = b.abs(b.dot(n_new, q, name="nq"), name="abs_nq")
    denom = b.maximum(qn, b.exp(b.scale(m_new, -1.0, name="neg_m"), name="exp_neg_m"),
                      name="denom")
    h_tilde = b.div(b.matvec(c_new, q, name="Cq"), denom, eps=MLSTM_EPS, name="h_tilde")
    h = b.mul(o, h_tilde, name="h")
    for state, value in (("C", c_new), ("n", n_new), ("m", m_new)):
        b.set_state(state, value)
    return b.build(output=h, name="mlstm" if heads == 1 else f"mlstm_h{heads}",
                   values={"kind": "heads", "heads": heads})


MODERN_CELLS: tuple[str, ...] = ("mingru", "minlstm", "rglru", "hgrn", "slstm", "mlstm")
# -- end of the modern recurrences --------------------------------------------------------------

GREFF_VARIANTS: tuple[str, ...] = ("nig", "nfg", "nog", "niaf", "noaf", "np", "cifg", "fgr")
JOZEFOWICZ_CELLS: tuple[str, ...] = ("lstm_b", "lstm_f", "lstm_i", "lstm_o", "mut1", "mut2",
                                     "mut3")

_FACTORIES: dict[str, Callable[[], Genome]] = {
    "rnn_tanh": _rnn_tanh,
    "lstm": _lstm,
    "gru": _gru,
    "lstm_b": lambda: _jozefowicz_lstm("lstm_b", forget_bias=1.0),
    "lstm_f": lambda: _jozefowicz_lstm("lstm_f", gates="io"),
    "lstm_i": lambda: _jozefowicz_lstm("lstm_i", gates="fo"),
    "lstm_o": lambda: _jozefowicz_lstm("lstm_o", gates="if"),
    "mut1": _mut1,
    "mut2": _mut2,
    "mut3": _mut3,
    "vanilla": lambda: _greff("vanilla"),
    **{v: (lambda v=v: _greff(v, v)) for v in GREFF_VARIANTS},
    # DARTS (Liu et al. 2019) and ENAS (Pham et al. 2018) cells exactly as DARTSCell computes
    # them (no biases, mean of the concatenated nodes): 2n(m + n) + 2n² per node
    "darts_v1": lambda: import_darts(DARTS_V1, name="darts_v1"),
    "darts_v2": lambda: import_darts(DARTS_V2, name="darts_v2"),
    "enas": lambda: import_darts(ENAS, name="enas"),
    # genome format version 2: a layer reading the layer below, and clocked modules
    "depth_gated": _depth_gated,
    "grid_lstm": _grid_lstm,
    "clockwork": clockwork,
    "lstm_attention": lstm_attention,
    "lstm_attentive_readout": lstm_attentive_readout,
    # -- modern recurrences --
    "mingru": _mingru,
    "minlstm": _minlstm,
    "rglru": _rglru,
    "hgrn": _hgrn,
    "slstm": slstm,
    "mlstm": mlstm,
}

# cells of spatial values (genome format 2's ``values``): compiled with spatial=(H, W)
_SPATIAL_FACTORIES: dict[str, Callable[[], Genome]] = {
    "convlstm": convlstm,
}

_CACHE: dict[str, Genome] = {}


def names(*, spatial: bool = False) -> tuple[str, ...]:
    """Every named cell of vector values, PyTorch's first; with ``spatial`` also the cells of
    spatial values (:data:`SPATIAL_CELLS`, compiled with ``spatial=(H, W)``) at the end."""
    return tuple(_FACTORIES) + (tuple(_SPATIAL_FACTORIES) if spatial else ())


def get(name: str) -> Genome:
    """The named cell's genome (a frozen value; build a variant with ``replace``)."""
    try:
        factory = _FACTORIES[name] if name in _FACTORIES else _SPATIAL_FACTORIES[name]
    except (KeyError, TypeError):
        import difflib

        close = difflib.get_close_matches(str(name), names(spatial=True), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise KeyError(f"no cell named {name!r} in the zoo; {hint}known: "
                       f"{', '.join(names(spatial=True))}") from None
    if name not in _CACHE:
        _CACHE[name] = factory()
    return _CACHE[name]


__all__ = [
    "ATTENTION_WINDOW",
    "CLOCKWORK_MODULES",
    "CONVLSTM_KERNEL",
    "GREFF_VARIANTS",
    "JOZEFOWICZ_CELLS",
    "MLSTM_EPS",
    "MLSTM_FORGET_BIAS",
    "MODERN_CELLS",
    "RGLRU_C",
    "SPATIAL_CELLS",
    "clockwork",
    "convlstm",
    "get",
    "lstm_attention",
    "lstm_attentive_readout",
    "mlstm",
    "names",
    "slstm",
]
