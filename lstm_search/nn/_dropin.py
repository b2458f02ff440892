"""Drop-in replacements for ``torch.nn.LSTM`` / ``GRU`` / ``RNN``, and the same calling
convention for any genome.

:class:`Recurrent` runs any genome with torch's interface: ``bidirectional``, ``bias=False``,
``batch_first``, inter-layer dropout, unbatched 2-D input, ``PackedSequence`` in and out
(sorted or not), initial and final states shaped ``(num_layers · num_directions, B, n)``
(layer k, direction d at index ``k · num_directions + d``, as torch) and a no-op
``flatten_parameters()``. A bidirectional GRU variant is one argument away::

    Recurrent(my_gru_variant, 32, 64, bidirectional=True)

:class:`LSTM`, :class:`GRU` and :class:`RNN` take torch's constructor arguments and compute
what torch computes (the zoo's ``lstm``, ``gru``, ``rnn_tanh`` and its ReLU twin; biases dropped
for ``bias=False``); their ``load_state_dict`` accepts torch's key names (``weight_ih_l0``,
``bias_hh_l1_reverse`` ...), :meth:`~_TorchLayout.torch_state_dict` writes them, and
:meth:`~_TorchLayout.to_torch` returns the equivalent torch module. ``LSTM(proj_size=p)``
runs :class:`ProjectedLSTMLayer`, a plain PyTorch loop with torch's parameters (the compiler's
states are all n wide, a projected h is not).

TorchScript: the kernels are generated per cell and driven from Python, so
``torch.jit.script(module)`` scripts, in the module's place (``__prepare_scriptable__``), the
equivalent plain-PyTorch stack of :meth:`Recurrent.to_torchscript` (padded tensors,
evaluation: no inter-layer dropout), which ``torch.jit.save`` / ``load`` accept, for any
genome (:mod:`lstm_search.nn._script`). ``torch.jit.trace`` and ``torch.export`` run every
backend's cells through the eager kernel (see :class:`~lstm_search.nn.RecurrentLayer`).
(On torch 2.13, ``torch.jit.script(torch.nn.LSTM(...))`` yields a module without ``forward``; trace
:meth:`~_TorchLayout.to_torch`'s result for a torch-only file.)

Packed sequences run the compiled kernel once per run of steps with the same number of live
sequences (sorted by length, as a PackedSequence stores them), so every sequence's final state
is the one after its own last step, and the reverse direction reads each sequence from its own
end.

Genome format 2: a cell reading ``below:<state>`` (the Depth-Gated LSTM) reads, in direction d
of layer k, direction d of layer k − 1's new value of the state at the same step of that
direction (zeros in layer 0); a clocked cell's step index counts from each sequence's first
step (its last, in the reverse direction). A cell with ``attention`` attends over the earlier
steps of each call, so packed sequences of unequal lengths (run stretch by stretch) are refused
for it: pass them padded.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstm_search import zoo
from lstm_search.compile import check_backend
from lstm_search.genome import Genome, Node
from lstm_search.nn._layer import RecurrentLayer

State = Tensor | tuple[Tensor, ...]


def without_bias(genome: Genome) -> Genome:
    """``genome`` with every projection's bias removed (torch's ``bias=False``)."""
    nodes = tuple(
        Node(n.name, n.op, n.inputs, {**{k: v for k, v in n.params.items() if k != "bias_init"},
                                      "bias": False}) if n.op == "linear" else n
        for n in genome.nodes)
    return genome.replace(nodes=nodes)


def _reverse(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Each sequence of ``x`` (T, B, ·) reversed within its own length (padding stays put)."""
    if lengths is None:
        return x.flip(0)
    T = x.shape[0]
    t = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
    n = lengths.to(x.device).unsqueeze(0)  # (1, B)
    idx = torch.where(t < n, n - 1 - t, t)  # (T, B)
    return x.gather(0, idx.unsqueeze(2).expand_as(x))


class Recurrent(nn.Module):
    """``num_layers`` layers of ``genome`` (two directions each with ``bidirectional``) with
    ``torch.nn.LSTM``'s calling convention: ``forward(input, hx=None) -> (output, h_n)``; see
    the module docstring. ``h_n`` is one tensor for a one-state cell, else a tuple in the
    genome's state order (``(h, c)`` for LSTM)."""

    def __init__(self, genome: Genome, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device: Any = None, dtype: Any = None, *,
                 backend: str = "script", seed: int | None = None) -> None:
        super().__init__()
        check_backend(backend)
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        if not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"dropout should be a number in range [0, 1], got {dropout!r}")
        self.genome = genome if bias else without_bias(genome)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.backend = backend
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        D = self.num_directions
        self.n_states = len(self.genome.states)
        widths = self._state_widths()
        self.cells = nn.ModuleList(
            self._make_cell(input_size if k == 0 else widths[0] * D, gen)
            for k in range(num_layers) for _ in range(D))
        if device is not None or dtype is not None:
            self.to(device=device, dtype=dtype)

    def _state_widths(self) -> tuple[int, ...]:
        """Width of each state, the output's (the first state's) first."""
        return (self.hidden_size,) * self.n_states

    def _make_cell(self, input_size: int, gen: torch.Generator | None) -> nn.Module:
        return RecurrentLayer(self.genome, input_size, self.hidden_size, self.backend,
                              generator=gen)

    def to_torchscript(self) -> torch.jit.ScriptModule:
        """This module as a ``torch.jit.ScriptModule`` (padded tensors, evaluation):
        :func:`lstm_search.nn.to_torchscript`."""
        from lstm_search.nn._script import to_torchscript

        return to_torchscript(self)

    def __prepare_scriptable__(self) -> nn.Module:
        """What ``torch.jit.script(self)`` scripts: :func:`lstm_search.nn._script.scriptable`."""
        from lstm_search.nn._script import scriptable

        return scriptable(self)

    def flatten_parameters(self) -> None:
        """A no-op (torch packs cuDNN weights here; the compiled layers need nothing)."""

    # -- states ---------------------------------------------------------------------------------
    def _states_in(self, hx: State | None, batch: int, like: Tensor,
                   unbatched: bool) -> list[tuple[Tensor, ...]]:
        LD = self.num_layers * self.num_directions
        widths = self._state_widths()
        if hx is None:
            return [tuple(like.new_zeros(batch, w) for w in widths) for _ in range(LD)]
        parts = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        if len(parts) != self.n_states:
            raise RuntimeError(f"Expected {self.n_states} hidden state tensor(s) "
                               f"({', '.join(self.genome.states)}), got {len(parts)}")
        for p, w in zip(parts, widths, strict=True):
            want = (LD, w) if unbatched else (LD, batch, w)
            if tuple(p.shape) != want:
                raise RuntimeError(f"Expected hidden size {want}, got {list(p.shape)}")
            if p.dtype != like.dtype:
                raise ValueError(f"RNN hidden state dtype ({p.dtype}) does not match input "
                                 f"dtype ({like.dtype})")
        if unbatched:
            parts = tuple(p.unsqueeze(1) for p in parts)
        return [tuple(p[i] for p in parts) for i in range(LD)]

    # -- one layer, one direction -----------------------------------------------------------------
    @staticmethod
    def _run(cell: nn.Module, x: Tensor, s0: tuple[Tensor, ...], lengths: list[int] | None,
             below: list[Tensor] | None = None
             ) -> tuple[Tensor, tuple[Tensor, ...], list[Tensor]]:
        """One layer and direction; also the values the cell emits for the layer above and
        reads from the layer below (genome format 2's ``below:``, None: zeros)."""
        # format 2's dropout masks: one draw per sequence, kept over the stretches below
        masks = (cell.draw_masks(x.shape[1], x) if isinstance(cell, RecurrentLayer)
                 and cell.training and cell.plan.masks else None)

        def run(xs: Tensor, ss: tuple[Tensor, ...], us: list[Tensor] | None, t0: int
                ) -> tuple[Tensor, tuple[Tensor, ...], list[Tensor]]:
            if isinstance(cell, RecurrentLayer):
                ms = None if masks is None else [m[:xs.shape[1]] for m in masks]
                return cell.run(xs, ss, us, t0=t0, masks=ms)
            y, new = cell(xs, ss)  # LSTM with proj_size: a plain loop
            return y, new, []

        if lengths is None or all(n == x.shape[0] for n in lengths):
            return run(x, s0, below, 0)
        if isinstance(cell, RecurrentLayer) and cell.plan.attentions:
            # the stretches below would start each one's attention memory empty
            raise ValueError("a cell with attention (genome format 2) runs packed sequences "
                             "of equal lengths only; pad them and pass a tensor instead")
        # lengths sorted descending: run each stretch of steps with the same live sequences;
        # a clocked cell (genome format 2) continues its schedule at each stretch's first step
        B, states, pieces, emitted, t0 = x.shape[1], list(s0), [], [], 0
        while t0 < x.shape[0]:
            k = sum(1 for n in lengths if n > t0)
            t1 = min(n for n in lengths if n > t0)
            below_in = None if below is None else [u[t0:t1, :k] for u in below]
            y, new, em = run(x[t0:t1, :k], tuple(s[:k] for s in states), below_in, t0)
            pieces.append(F.pad(y, (0, 0, 0, B - k)))
            emitted.append([F.pad(e, (0, 0, 0, B - k)) for e in em])
            states = [torch.cat([a, s[k:]], 0) for a, s in zip(new, states, strict=True)]
            t0 = t1
        out = [torch.cat(parts, 0) for parts in zip(*emitted, strict=True)]
        return torch.cat(pieces, 0), tuple(states), out

    def forward(self, input: Tensor | PackedSequence, hx: State | None = None
                ) -> tuple[Tensor | PackedSequence, State]:
        packed = isinstance(input, PackedSequence)
        lengths_t: Tensor | None = None
        unbatched = False
        if packed:
            assert isinstance(input, PackedSequence)
            sorted_idx = input.sorted_indices
            x, lengths_t = pad_packed_sequence(PackedSequence(input.data, input.batch_sizes))
            if hx is not None and sorted_idx is not None:  # hx is in the caller's order
                hx = hx.index_select(1, sorted_idx) if isinstance(hx, Tensor) else \
                    tuple(h.index_select(1, sorted_idx) for h in hx)
        else:
            assert isinstance(input, Tensor)
            if input.dim() not in (2, 3):
                raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got "
                                 f"{input.dim()}D tensor instead")
            unbatched = input.dim() == 2
            x = input.unsqueeze(1) if unbatched else \
                (input.transpose(0, 1) if self.batch_first else input)
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {x.shape[-1]}")
        lengths = None if lengths_t is None else [int(n) for n in lengths_t]
        init = self._states_in(hx, x.shape[1], x, unbatched)
        finals: list[tuple[Tensor, ...]] = []
        D = self.num_directions
        # genome format 2: direction d of layer k reads direction d of layer k − 1's new
        # states (below:<state>), in that direction's own step order; layer 0 reads zeros
        below: list[list[Tensor] | None] = [None] * D
        for k in range(self.num_layers):
            if k > 0 and self.dropout > 0:
                x = F.dropout(x, self.dropout, self.training)
            outs = []
            for d in range(D):
                i = k * D + d
                xi = x if d == 0 else _reverse(x, lengths_t)
                y, s, em = self._run(self.cells[i], xi, init[i], lengths, below[d])
                below[d] = em or None
                outs.append(y if d == 0 else _reverse(y, lengths_t))
                finals.append(s)
            x = outs[0] if D == 1 else torch.cat(outs, 2)
        h_n = [torch.stack([f[j] for f in finals], 0) for j in range(self.n_states)]
        if packed:
            assert isinstance(input, PackedSequence) and lengths_t is not None
            data = pack_padded_sequence(x, lengths_t).data
            out: Tensor | PackedSequence = PackedSequence(data, input.batch_sizes,
                                                          input.sorted_indices,
                                                          input.unsorted_indices)
            if input.unsorted_indices is not None:
                h_n = [h.index_select(1, input.unsorted_indices) for h in h_n]
        elif unbatched:
            out = x.squeeze(1)
            h_n = [h.squeeze(1) for h in h_n]
        else:
            out = x.transpose(0, 1) if self.batch_first else x
        return out, (h_n[0] if self.n_states == 1 else tuple(h_n))

    def extra_repr(self) -> str:
        s = f"{self.genome.name or 'genome'}, {self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for key, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                             ("bidirectional", False)):
            if getattr(self, key) != default:
                s += f", {key}={getattr(self, key)}"
        return s + f", backend={self.backend!r}"


class _TorchLayout(Recurrent):
    """torch's parameter names and row layout for the zoo's torch cells."""

    _mode = ""
    _gates: tuple[str, ...] = ()

    def _torch_kwargs(self) -> dict[str, Any]:
        return {"num_layers": self.num_layers, "bias": self.bias,
                "batch_first": self.batch_first, "dropout": self.dropout,
                "bidirectional": self.bidirectional}

    def _slots(self):  # (torch key, cell index, node, row slice kind) for every tensor
        D = self.num_directions
        for k in range(self.num_layers):
            for d in range(D):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                cell = self.cells[k * D + d]
                pmap = cell.param_map()
                for src, tag in (("x", "ih"), ("h", "hh")):
                    nodes = [pmap[f"{src}_{g}"] for g in self._gates]
                    yield f"weight_{tag}{sfx}", cell, [e[0] for e in nodes]
                    if self.bias:
                        yield f"bias_{tag}{sfx}", cell, [e[1] for e in nodes]

    def torch_state_dict(self) -> dict[str, Tensor]:
        """The parameters under torch's names and layout (``torch.nn.LSTM(...)
        .load_state_dict`` takes it)."""
        out = {}
        for key, cell, entries in self._slots():
            params = dict(cell.named_parameters(recurse=False))
            out[key] = torch.cat([params[name][r0:r1] for name, r0, r1 in entries], 0).detach()
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """Load either this module's own keys or torch's (``weight_ih_l0`` ...)."""
        if not any(str(k).startswith(("weight_ih_l", "weight_hh_l")) for k in state_dict):
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        mine = {k: v.detach().clone() for k, v in self.state_dict().items()}
        used, missing = set(), []
        for key, cell, entries in self._slots():
            if key not in state_dict:
                missing.append(key)
                continue
            used.add(key)
            src = state_dict[key]
            prefix = next(p for p, m in self.named_modules() if m is cell)
            targets = [(mine[f"{prefix}.{name}"], r0, r1) for name, r0, r1 in entries]
            want = (sum(r1 - r0 for _, r0, r1 in targets), *targets[0][0].shape[1:])
            if tuple(src.shape) != want:
                raise RuntimeError(f"size mismatch for {key}: copying a param with shape "
                                   f"{tuple(src.shape)}, the shape in current model is {want}")
            off = 0
            for target, r0, r1 in targets:
                target[r0:r1] = src[off:off + r1 - r0]
                off += r1 - r0
        unexpected = [k for k in state_dict if k not in used]
        if strict and (missing or unexpected):
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: "
                               f"missing keys {missing}, unexpected keys {unexpected}")
        return super().load_state_dict(mine, strict=True)

    def to_torch(self) -> nn.Module:
        """The equivalent ``torch.nn`` module with these weights (same dtype and device)."""
        ref = next(self.parameters())
        mod = self._torch_module()
        mod.to(device=ref.device, dtype=ref.dtype)
        mod.load_state_dict(self.torch_state_dict())
        return mod

    def _torch_module(self) -> nn.Module:  # pragma: no cover - each subclass has its own
        raise NotImplementedError


class LSTM(_TorchLayout):
    """``torch.nn.LSTM``'s arguments and results, computed by the compiled ``lstm`` cell."""

    _mode, _gates = "LSTM", ("i", "f", "g", "o")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None, *, backend: str = "script", seed: int | None = None) -> None:
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError(f"proj_size should be a non-negative integer, got {proj_size!r}")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        self.proj_size = proj_size
        super().__init__(zoo.get("lstm"), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, device, dtype, backend=backend,
                         seed=seed)

    def _state_widths(self) -> tuple[int, ...]:
        return (self.proj_size or self.hidden_size, self.hidden_size)

    def _make_cell(self, input_size: int, gen: torch.Generator | None) -> nn.Module:
        if not self.proj_size:
            return super()._make_cell(input_size, gen)
        return ProjectedLSTMLayer(input_size, self.hidden_size, self.proj_size, self.bias, gen)

    def _slots(self):
        if not self.proj_size:
            yield from super()._slots()
            return
        D = self.num_directions
        for k in range(self.num_layers):
            for d in range(D):
                cell = self.cells[k * D + d]
                for name, _ in cell.named_parameters(recurse=False):
                    key = f"{name}_l{k}" + ("_reverse" if d else "")
                    yield key, cell, [(name, 0, cell.get_parameter(name).shape[0])]

    def _torch_kwargs(self) -> dict[str, Any]:
        return {**super()._torch_kwargs(), "proj_size": self.proj_size}

    def _torch_module(self) -> nn.Module:
        return nn.LSTM(self.input_size, self.hidden_size, **self._torch_kwargs())


class ProjectedLSTMLayer(nn.Module):
    """One direction of one layer of an LSTM with a projection (Sak et al. 2014; torch's
    ``proj_size``): the LSTM of the zoo with ``h_t = W_hr (o_t ⊙ tanh(c_t))``, p < n wide and
    read by the gates at the next step. A plain PyTorch loop (the compiled cells keep every
    state n wide), with torch's parameter names and layout (gates i, f, g, o)."""

    def __init__(self, input_size: int, hidden_size: int, proj_size: int, bias: bool,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        n, p = hidden_size, proj_size
        self.weight_ih = nn.Parameter(torch.empty(4 * n, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * n, p))
        self.bias_ih = nn.Parameter(torch.empty(4 * n)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(4 * n)) if bias else None
        self.weight_hr = nn.Parameter(torch.empty(p, n))
        bound = 1.0 / n ** 0.5
        with torch.no_grad():
            for w in self.parameters():
                w.copy_(torch.empty(w.shape).uniform_(-bound, bound, generator=generator))

    def forward(self, x: Tensor, states: tuple[Tensor, ...]
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = states  # (B, p), (B, n)
        xw = F.linear(x, self.weight_ih, self.bias_ih)  # (T, B, 4n), before the loop
        ys = []
        for t in range(x.shape[0]):
            i, f, g, o = (xw[t] + F.linear(h, self.weight_hh, self.bias_hh)).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = F.linear(torch.sigmoid(o) * torch.tanh(c), self.weight_hr)
            ys.append(h)
        return torch.stack(ys, 0), (h, c)


class GRU(_TorchLayout):
    """``torch.nn.GRU``'s arguments and results, computed by the compiled ``gru`` cell."""

    _mode, _gates = "GRU", ("r", "z", "n")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device: Any = None, dtype: Any = None, *,
                 backend: str = "script", seed: int | None = None) -> None:
        super().__init__(zoo.get("gru"), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, device, dtype, backend=backend,
                         seed=seed)

    def _torch_module(self) -> nn.Module:
        return nn.GRU(self.input_size, self.hidden_size, **self._torch_kwargs())


def _rnn_relu() -> Genome:
    g = zoo.get("rnn_tanh")
    return g.replace(nodes=tuple(Node(n.name, "relu", n.inputs) if n.op == "tanh" else n
                                 for n in g.nodes), name="rnn_relu")


class RNN(_TorchLayout):
    """``torch.nn.RNN``'s arguments and results (``nonlinearity`` 'tanh' or 'relu')."""

    _gates = ("h",)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None, *, backend: str = "script", seed: int | None = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        self.nonlinearity = nonlinearity
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        genome = zoo.get("rnn_tanh") if nonlinearity == "tanh" else _rnn_relu()
        super().__init__(genome, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device, dtype, backend=backend, seed=seed)

    def _torch_module(self) -> nn.Module:
        return nn.RNN(self.input_size, self.hidden_size, nonlinearity=self.nonlinearity,
                      **self._torch_kwargs())
