"""Speed of compiled cells against PyTorch's own RNNs, measured in one process.

Forward + backward of one layer (or, ``inference=True``, the forward alone under ``no_grad``;
input = hidden unless given), the torch reference
(``nn.LSTM``; ``nn.GRU`` for gru, ``nn.RNN`` for rnn_tanh) timed in the same process with
interleaved repetitions, medians reported with their ratio to the reference: on shared machines
absolute times drift, ratios measured side by side much less (shared/reference/performance.md).
A cell that gets the scan path (minGRU, minLSTM, HGRN, RG-LRU: ``lstm-search show`` says) is
timed on it and, as ``<backend> (step loop)``, on the step loop too. ``device="cuda"`` times
on the GPU (the reference is cuDNN's), synchronising before and after each repetition.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from lstm_search import zoo
from lstm_search.compile import clear_kernel_cache
from lstm_search.nn import compile_rnn

REFERENCES: dict[str, str] = {"gru": "GRU", "rnn_tanh": "RNN"}  # everything else: LSTM


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


def bench_cell(cell: str, *, hidden: int = 200, batch: int = 20, seq: int = 35,
               input_size: int | None = None, backends: tuple[str, ...] = ("script",),
               repeats: int = 20, warmup: int = 3, seed: int = 0,
               inference: bool = False, device: str = "cpu") -> list[BenchRow]:
    """Time ``cell`` (a zoo name) with each backend and its torch reference: forward +
    backward, or (``inference``) the forward alone under ``no_grad``; on ``device``."""
    genome = zoo.get(cell)
    m = input_size or hidden
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(seq, batch, m, generator=gen).to(dev).requires_grad_(True)
    ref_name, ref = _torch_reference(cell, m, hidden)
    ref = ref.to(dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    impls: dict[str, torch.nn.Module] = {ref_name: ref}
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
            if not scan and paths[backend] != "scan":
                break  # the step loop is what the first build timed
            clear_kernel_cache()  # a cold compile for the latency figure
            t0 = time.perf_counter()
            module = compile_rnn(genome, m, hidden, backend=backend, seed=seed,
                                 scan=scan).to(dev)
            with torch.no_grad():
                module(x)
            sync()
            name = backend if scan else f"{backend} (step loop)"
            latency[name] = time.perf_counter() - t0
            impls[name] = module
            paths[name] = module.layers[0].path
            kernel = module.layers[0].kernel
            if backend == "native" and kernel.name != "native" and paths[name] != "scan":
                paths[name] += " (runs script)"  # a plan the native backend does not cover
            elif backend == "native" and dev.type == "cuda" and kernel.name == "native" \
                    and kernel.cuda_kernel() is None:
                paths[name] += " (runs script on CUDA)"
    for module in impls.values():
        for _ in range(warmup):
            step(module)
    times: dict[str, list[float]] = {k: [] for k in impls}
    for _ in range(repeats):  # interleaved: every implementation sees the same load
        for name, module in impls.items():
            module.zero_grad(set_to_none=True)
            x.grad = None
            sync()
            t0 = time.perf_counter()
            step(module)
            sync()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times[ref_name])
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        q = statistics.quantiles(ts, n=4) if len(ts) >= 4 else [med, med, med]
        rows.append(BenchRow(cell, name, hidden, batch, seq, med * 1e3, med / base,
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
