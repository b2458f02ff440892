"""One recurrent layer of any compiled cell: parameters plus a kernel running the time loop."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstm_search.compile import (
    Plan,
    build_plan,
    dense_params,
    init_parameters,
    make_kernel,
    make_parameters,
    param_map,
)
from lstm_search.genome import Genome


class RecurrentLayer(nn.Module):
    """A layer of ``genome`` cells: ``forward(x (T, B, m), states) -> (y (T, B, n), states)``
    with ``states`` a tuple of (B, n) tensors in the genome's state order (zeros when None).

    Under ``torch.jit.trace`` and ``torch.export`` every backend
    runs the eager kernel (the same computation in plain aten ops), so traced and exported
    programs hold no generated kernel.

    A head-wise cell (genome format 2's ``values`` of kind ``heads``, e.g.
    ``zoo.get("mlstm")``) has states of their own shapes (:attr:`Plan.state_shapes`): (B, n)
    vectors, (B, h) per-head scalars and (B, h, d, d) matrices.

    A spatial cell (genome format 2's ``values``, e.g. ``zoo.get("convlstm")``) takes
    ``spatial=(H, W)``: ``input_size`` and ``hidden_size`` are then channels, x is
    (T, B, m, H, W), each state (B, n, H, W) and y (T, B, n, H, W).

    Parameter names are the compiler's (``weight_x``, ``weight_s0``, ``diag_v7`` ...);
    :meth:`param_map` says which genome node owns which rows.
    """

    def __init__(self, genome: Genome, input_size: int, hidden_size: int,
                 backend: str = "script", *, fused_backward: bool = True,
                 init_scale: float = 1.0, scan: bool = True,
                 generator: torch.Generator | None = None,
                 spatial: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.plan: Plan = build_plan(genome, input_size, hidden_size, spatial)
        self.spatial = self.plan.spatial
        self.genome = genome
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.backend = backend
        self.init_scale = init_scale
        for name, p in make_parameters(self.plan).items():
            self.register_parameter(name, p)
        self.reset_parameters(generator)
        self.kernel: Any = make_kernel(self.plan, backend, fused_backward=fused_backward,
                                       scan=scan)

    @property
    def n_states(self) -> int:
        return self.plan.n_states

    @property
    def path(self) -> str:
        """``"scan"`` when this layer runs the scan over the whole sequence, else
        ``"step loop"`` (``plan.path`` says why a plan cannot scan; ``scan=False`` or the
        ``compile`` backend keep the loop for one that can)."""
        return getattr(self.kernel, "path", "step loop")

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        init_parameters(self.plan, self.genome, dict(self.named_parameters(recurse=False)),
                        init_scale=self.init_scale, generator=generator)

    def param_map(self) -> dict[str, list[tuple[str, int, int]]]:
        return param_map(self.plan)

    def zero_states(self, batch: int, like: Tensor) -> tuple[Tensor, ...]:
        """The states a sequence starts from: zeros (B, *shape) in ``like``'s dtype and device;
        on the chunkwise path one zero broadcast to that shape (read only: the path never
        writes a state in place), which neither fills a matrix memory nor has it read back
        to find that it is zero."""
        if self.path == "chunkwise":
            zero = like.new_zeros(())
            return tuple(zero.expand(batch, *shape) for shape in self.plan.state_shapes)
        return tuple(like.new_zeros(batch, *shape) for shape in self.plan.state_shapes)

    def forward(self, x: Tensor, states: tuple[Tensor, ...] | list[Tensor] | None = None, *,
                t0: int = 0) -> tuple[Tensor, tuple[Tensor, ...]]:
        """``t0``: the step index of x's first step, for a clocked cell (genome format 2)
        continuing a sequence; a cell reading ``below:`` sees zeros (a first layer)."""
        y, new, _ = self.run(x, states, t0=t0)
        return y, new

    def draw_masks(self, batch: int, like: Tensor) -> list[Tensor]:
        """Fresh variational dropout masks (genome format 2, :attr:`Plan.masks`), (batch,
        width) each in ``like``'s dtype and device: an entry is 0 with probability p, else
        1/(1 − p), drawn as DARTS' ``mask2d`` does (``floor(U + 1 − p) / (1 − p)``, U uniform
        in [0, 1) from torch's global generator), x's mask first, then the states' in order."""
        out = []
        for m in self.plan.masks:
            keep = 1.0 - m.p
            u = torch.rand(batch, m.width, dtype=like.dtype, device=like.device)
            out.append(torch.floor(u + keep) / keep)
        return out

    def run(self, x: Tensor, states: tuple[Tensor, ...] | list[Tensor] | None = None,
            below: list[Tensor] | None = None, *, t0: int = 0,
            masks: list[Tensor] | None = None
            ) -> tuple[Tensor, tuple[Tensor, ...], list[Tensor]]:
        """:meth:`forward` with genome format 2's stack inputs and outputs: ``below`` holds the
        layer below's values (T, B, n) of the states ``plan.below`` (None: zeros, the first
        layer); returns also this layer's values (T, B, n) of those states at every step.

        A cell with variational dropout (format 2's ``dropout`` on ``linear``) draws its masks
        (:meth:`draw_masks`) once per call while training, the same at every step of the
        call, and uses none in evaluation; ``masks`` gives them instead (a sequence run in
        pieces keeps one draw: the packed sequences of :class:`~._dropin.LSTM` and kin)."""
        inp = self.plan.input_shape
        if x.dim() != 2 + len(inp) or tuple(x.shape[2:]) != inp or x.shape[0] < 1:
            raise ValueError(f"expected input (T >= 1, B, {', '.join(map(str, inp))}), got "
                             f"{tuple(x.shape)}")
        w = next(iter(self._parameters.values()), None)
        if w is not None and x.dtype != w.dtype:  # torch.nn.RNN's own message
            raise ValueError(f"RNN input dtype ({x.dtype}) does not match weight dtype "
                             f"({w.dtype}). Convert input: input.to({w.dtype}), or convert "
                             f"model: model.to({x.dtype})")
        if states is None:
            states = self.zero_states(x.shape[1], x)
        states = list(states)
        wants = [(x.shape[1], *shape) for shape in self.plan.state_shapes]
        if len(states) != self.n_states or any(tuple(s.shape) != want
                                               for s, want in zip(states, wants, strict=True)):
            shown = wants[0] if len(set(wants)) == 1 else wants
            raise ValueError(f"expected {self.n_states} state tensor(s) of shape {shown}, got "
                             f"{[tuple(s.shape) for s in states]}")
        if isinstance(t0, bool) or not isinstance(t0, int) or t0 < 0:
            raise ValueError(f"t0 must be a non-negative int, got {t0!r}")
        if below is not None:
            want3 = (x.shape[0], x.shape[1], self.hidden_size)
            if len(below) != len(self.plan.below) or any(tuple(u.shape) != want3
                                                         for u in below):
                raise ValueError(f"expected {len(self.plan.below)} tensor(s) from the layer "
                                 f"below of shape {want3}, got {[tuple(u.shape) for u in below]}")
        if masks is None and self.training and self.plan.masks:
            masks = self.draw_masks(x.shape[1], x)
        if masks is not None:
            want_m = [(x.shape[1], m.width) for m in self.plan.masks]
            if [tuple(m.shape) for m in masks] != want_m:
                raise ValueError(f"expected dropout masks of shapes {want_m}, got "
                                 f"{[tuple(m.shape) for m in masks]}")
        params = dense_params(self.plan, dict(self.named_parameters(recurse=False)))
        kernel = self.kernel
        if self.backend != "eager" and (torch.jit.is_tracing() or torch.compiler.is_exporting()):
            # torch.jit.trace and torch.export record tensor ops: the eager kernel's are plain
            # aten ops, the script and compile kernels' are not (a ScriptFunction with
            # oneDNN-packed weights, a nested compiled graph)
            kernel = make_kernel(self.plan, "eager")
        y, new, emitted = kernel(x, states, params, below, t0, masks)
        return y, tuple(new), emitted

    def extra_repr(self) -> str:
        name = self.genome.name or "genome"
        sp = f", spatial={self.spatial!r}" if self.spatial is not None else ""
        return (f"{name}, {self.input_size}, {self.hidden_size}, backend={self.backend!r}{sp}")
