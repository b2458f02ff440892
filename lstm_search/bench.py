"""Speed of compiled cells against PyTorch's own RNNs, measured in one process.

Forward + backward of one layer (or, ``inference=True``, the forward alone under ``no_grad``;
input = hidden unless given), the torch reference
(``nn.LSTM``; ``nn.GRU`` for gru, ``nn.RNN`` for rnn_tanh) timed in the same process with
interleaved repetitions, medians reported with their ratio to the reference: on shared machines
absolute times drift, ratios measured side by side much less (shared/reference/performance.md).
A cell that gets the scan path (minGRU, minLSTM, HGRN, RG-LRU: ``lstm-search show`` says) is
timed on it and, as ``<backend> (step loop)``, on the step loop too, in a second interleaved
pass with the reference (their ratios are to its median in that pass). ``device="cuda"`` times
on the GPU (the reference is cuDNN's), synchronising before and after each repetition.

A cell of spatial values (the zoo's ``convlstm``, Shi et al. 2015) is timed on maps of
``spatial=(H, W)`` with ``input_size`` and ``hidden`` counted in channels, against two
references: the FC-LSTM Shi et al. compare it with (``torch.nn.LSTM`` over the flattened
frames, its hidden size chosen for the ConvLSTM layer's parameter count; the ratios' yardstick)
and the ConvLSTM a PyTorch user writes by hand (:class:`ConvLSTMReference`: one
``torch.nn.Conv2d`` of every input frame at once, one of the hidden map per step, Hadamard
peepholes).
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch

from lstm_search import zoo
from lstm_search.compile import clear_kernel_cache
from lstm_search.genome import n_params
from lstm_search.nn import compile_rnn

REFERENCES: dict[str, str] = {"gru": "GRU", "rnn_tanh": "RNN"}  # everything else: LSTM
# the paths that run a layer without a step loop: timed on their step loop too
_WHOLE_SEQUENCE = ("scan", "chunkwise")


@dataclass(frozen=True)
class BenchRow:
    cell: str
    impl: str  # "torch.nn.LSTM" ... or a backend name
    hidden: int
    batch: int
    seq: int
    median_ms: float  # forward + backward (mode "train") or forward under no_grad ("inference")
    ratio: float  # median_ms / the torch reference's median_ms, same process
    compile_s: float | None  # compile_rnn + first forward (None for the reference)
    spread: float  # (p75 − p25) / median of this implementation's repetitions
    path: str = ""  # "scan" or "step loop" for a compiled cell; "" for the reference
    mode: str = "train"  # "train": forward + backward; "inference": forward under no_grad

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def machine() -> dict[str, Any]:
    """CPU model, cores, torch version and threads: what a benchmark table must state."""
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    import os

    info = {"cpu": model, "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _torch_reference(cell: str, m: int, n: int) -> tuple[str, torch.nn.Module]:
    kind = REFERENCES.get(cell, "LSTM")
    return f"torch.nn.{kind}", getattr(torch.nn, kind)(m, n)


class ConvLSTMReference(torch.nn.Module):
    """Shi et al. (2015, eq. 3)'s ConvLSTM as a PyTorch user writes it: the input frames of
    the whole sequence convolved at once (``conv_x``, K×K, 'same' padding, with the bias),
    the hidden map convolved at each step (``conv_h``, no bias), each step reading its view of
    the convolved frames from one ``unbind`` (indexing ``xs[t]`` instead makes autograd write
    a zero-filled copy of all of ``xs`` per step: 3x slower forward + backward at the default
    sizes), gates in the order i, f, g, o, and the Hadamard peepholes ``W_ci ∘ C_{t-1}``,
    ``W_cf ∘ C_{t-1}``, ``W_co ∘ C_t`` (one weight per channel and position). Its parameter
    count is the zoo ``convlstm``'s, ``4nK²(m + n) + 4n + 3nHW``. x: (T, B, m, H, W);
    returns (outputs, (h, c))."""

    def __init__(self, m: int, n: int, spatial: tuple[int, int], kernel: int) -> None:
        super().__init__()
        self.n = n
        self.conv_x = torch.nn.Conv2d(m, 4 * n, kernel, padding=kernel // 2)
        self.conv_h = torch.nn.Conv2d(n, 4 * n, kernel, padding=kernel // 2, bias=False)
        self.peep = torch.nn.Parameter(torch.randn(3, n, *spatial) * 0.1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        T, B, _, H, W = x.shape
        xs = self.conv_x(x.reshape(T * B, *x.shape[2:])).view(T, B, 4 * self.n, H, W)
        h = x.new_zeros(B, self.n, H, W)
        c = x.new_zeros(B, self.n, H, W)
        wci, wcf, wco = self.peep
        outs = []
        for xt in xs.unbind(0):
            i, f, g, o = (xt + self.conv_h(h)).chunk(4, 1)
            i = torch.sigmoid(i + wci * c)
            f = torch.sigmoid(f + wcf * c)
            c = f * c + i * torch.tanh(g)
            h = torch.sigmoid(o + wco * c) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs), (h, c)


class _FlatLSTM(torch.nn.Module):
    """torch.nn.LSTM reading each (m, H, W) frame as one flat vector: Shi et al.'s FC-LSTM."""

    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(inputs, hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        return self.lstm(x.flatten(2))


def fc_lstm_hidden(inputs: int, params: int) -> int:
    """The hidden size of the torch.nn.LSTM over ``inputs`` values whose parameter count,
    ``4N(inputs + N) + 8N``, is nearest ``params`` (the smaller on a tie)."""
    def count(n: int) -> int:
        return 4 * n * (inputs + n) + 8 * n

    n = 1
    while count(n + 1) <= params:
        n += 1
    return n + 1 if abs(count(n + 1) - params) < abs(count(n) - params) else n


def _spatial_references(cell: str, m: int, n: int, spatial: tuple[int, int]
                        ) -> dict[str, tuple[int, torch.nn.Module]]:
    genome = zoo.get(cell)
    params = n_params(genome, m, n, spatial)
    fc = fc_lstm_hidden(m * spatial[0] * spatial[1], params)
    return {"torch.nn.LSTM": (fc, _FlatLSTM(m * spatial[0] * spatial[1], fc)),
            "hand-written ConvLSTM": (n, ConvLSTMReference(m, n, spatial, genome.kernel))}


def interleaved_times(impls: Mapping[str, torch.nn.Module],
                      run: Callable[[torch.nn.Module], None], x: torch.Tensor, repeats: int,
                      *, warmup: int = 0, sync: Callable[[], None] | None = None
                      ) -> dict[str, list[float]]:
    """Seconds per call of ``run(module)`` for each of ``impls``: ``warmup`` untimed calls
    each, then ``repeats`` rounds in which every implementation runs once in turn (so each
    sees the same load on a shared machine), each call after its module's gradients and
    ``x``'s are cleared; ``sync`` (a device's synchronize) before the clock is read."""
    for module in impls.values():
        for _ in range(warmup):
            run(module)
    out: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(repeats):
        for name, module in impls.items():
            module.zero_grad(set_to_none=True)
            x.grad = None
            if sync is not None:
                sync()
            t0 = time.perf_counter()
            run(module)
            if sync is not None:
                sync()
            out[name].append(time.perf_counter() - t0)
    return out


def bench_cell(cell: str, *, hidden: int = 200, batch: int = 20, seq: int = 35,
               input_size: int | None = None, backends: tuple[str, ...] = ("script",),
               repeats: int = 20, warmup: int = 3, seed: int = 0,
               inference: bool = False, device: str = "cpu",
               spatial: tuple[int, int] | None = None) -> list[BenchRow]:
    """Time ``cell`` (a zoo name) with each backend and its torch reference: forward +
    backward, or (``inference``) the forward alone under ``no_grad``; on ``device``. A cell
    of spatial values needs ``spatial=(H, W)`` (channels: ``input_size``, default 1, and
    ``hidden``) and gets the two references of the module's docstring."""
    genome = zoo.get(cell)
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    widths: dict[str, int] = {}
    with torch.random.fork_rng(devices=[]):  # the references' initialisation, from seed alone
        torch.manual_seed(seed)
        if genome.kernel:
            if spatial is None:
                raise ValueError(f"{cell!r} is a cell of spatial values: give spatial=(H, W)")
            m = input_size or 1
            x = torch.randn(seq, batch, m, *spatial, generator=gen)
            refs = _spatial_references(cell, m, hidden, spatial)
            widths = {name: width for name, (width, _) in refs.items()}
            impls: dict[str, torch.nn.Module] = {name: mod.to(dev)
                                                 for name, (_, mod) in refs.items()}
            ref_name = "torch.nn.LSTM"
        else:
            m = input_size or hidden
            x = torch.randn(seq, batch, m, generator=gen)
            ref_name, ref = _torch_reference(cell, m, hidden)
            impls = {ref_name: ref.to(dev)}
    x = x.to(dev).requires_grad_(True)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    latency: dict[str, float] = {}

    def step(module: torch.nn.Module) -> None:
        if inference:
            with torch.no_grad():
                module(x)
            return
        y, _ = module(x)
        y.sum().backward()

    paths: dict[str, str] = {}
    for backend in backends:
        for scan in (True, False):
            if not scan and paths[backend] not in _WHOLE_SEQUENCE:
                break  # the step loop is what the first build timed
            clear_kernel_cache()  # a cold compile for the latency figure
            t0 = time.perf_counter()
            module = compile_rnn(genome, m, hidden, backend=backend, seed=seed,
                                 scan=scan, spatial=spatial if genome.kernel else None).to(dev)
            with torch.no_grad():
                module(x)
            sync()
            name = backend if scan else f"{backend} (step loop)"
            latency[name] = time.perf_counter() - t0
            impls[name] = module
            paths[name] = module.layers[0].path
            kernel = module.layers[0].kernel
            if backend == "native" and kernel.name != "native" and \
                    paths[name] not in _WHOLE_SEQUENCE:
                paths[name] += " (runs script)"  # a plan the native backend does not cover
            elif backend == "native" and dev.type == "cuda" and kernel.name == "native" \
                    and kernel.cuda_kernel() is None:
                paths[name] += " (runs script on CUDA)"
    def timed(names: list[str]) -> dict[str, list[float]]:
        return interleaved_times({k: impls[k] for k in names}, step, x, repeats,
                                 warmup=warmup, sync=sync)

    # the step loops of whole-sequence paths run in a pass of their own, with the reference
    # again: interleaved with the rest, the mLSTM's (200 ms, hundreds of MB per call) slowed
    # every implementation of its row, the reference included (2 threads: torch.nn.LSTM
    # 8.1-8.7 ms against 6.9-7.5 without them, the chunkwise paths 1.01-1.18x it against
    # 0.95-0.99x, spreads up to 1.0 against at most 0.10; three runs each)
    loops = [n for n in impls if n.endswith("(step loop)")]
    times = timed([n for n in impls if n not in loops])
    base = statistics.median(times[ref_name])
    bases = dict.fromkeys(times, base)
    if loops:
        again = timed([ref_name, *loops])
        loop_base = statistics.median(again[ref_name])
        for name in loops:
            times[name], bases[name] = again[name], loop_base
    rows = []
    for name in impls:  # the order they were built in
        ts = times[name]
        med = statistics.median(ts)
        q = statistics.quantiles(ts, n=4) if len(ts) >= 4 else [med, med, med]
        rows.append(BenchRow(cell, name, widths.get(name, hidden), batch, seq, med * 1e3,
                             med / bases[name],
                             latency.get(name), (q[2] - q[0]) / med, paths.get(name, ""),
                             "inference" if inference else "train"))
    return rows


def format_table(rows: list[BenchRow]) -> str:
    """A markdown table of benchmark rows."""
    modes = {r.mode for r in rows}
    mixed = len(modes) > 1
    what = ("ms" if mixed else "forward (no_grad) ms" if modes == {"inference"}
            else "fwd+bwd ms")
    head = (f"| cell | implementation | path | hidden |{' mode |' if mixed else ''} {what} "
            "(median) | ratio to torch | compile + first forward s | spread (IQR/median) |")
    lines = [head, "|---|---|---|---|" + ("---|" if mixed else "") + "---|---|---|---|"]
    for r in rows:
        comp = f"{r.compile_s:.2f}" if r.compile_s is not None else "-"
        mode = f" {r.mode} |" if mixed else ""
        lines.append(f"| {r.cell} | {r.impl} | {r.path or '-'} | {r.hidden} |{mode} "
                     f"{r.median_ms:.2f} | {r.ratio:.2f} | {comp} | {r.spread:.2f} |")
    return "\n".join(lines)
