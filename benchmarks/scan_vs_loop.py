"""Time a scannable cell (minGRU) on the step loop, on the scan path, and against its floor.

Forward + backward of one layer at T = 1024, B = 16, input = hidden, H in {64, 256} (plus
T = 64 to check that the scan is never slower than the loop there), in one process with
interleaved repetitions (median). Rows:

* ``loop``: the script backend's step loop (generated forward and backward, ``scan=False``);
* ``loop (native)``: the native backend's step loop (generated C++, each step one fused loop);
* ``scan (script)``, ``scan (eager)``: the scan path (:mod:`lstm_search.compile._scan`) with
  its chunked scan (``chunk_scan``, chunks of about √T, in-place, its own backward) in
  TorchScript or Python ops;
* ``scan, doubling (autograd)``: ``doubling_scan`` in chunks of 32 instead, differentiated by
  autograd (O(T log T) work, whole-tensor ops);
* ``scan, sequential over T``: the same layer with a Python loop over T of ``a[t]*s + b[t]``
  vectorised over B·H (T small ops);
* ``floor``: the cell's input projections alone (one (T·B, m) x (m, 2H) product and its
  backward), which every path must compute.

Writes benchmarks/results/scan_vs_loop-<date>[-<tag>].md and .json. ``--device cuda`` times
on the GPU (synchronising around each call; the issue's target there: the scan at least 10x
the loop at T = 1024).

    python benchmarks/scan_vs_loop.py [--repeats 7] [--device cuda] [--tag h100]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from lstm_search import zoo
from lstm_search.bench import machine
from lstm_search.compile._scan import doubling_scan, run_scan
from lstm_search.nn import compile_cell
from lstm_search.provenance import git_commit

OUT = Path(__file__).resolve().parent / "results"


def sequential(a: torch.Tensor, b: torch.Tensor, s0: torch.Tensor) -> torch.Tensor:
    """The recurrence as a loop over T, each step one op over all B·H units."""
    s, out = s0, []
    for t in range(a.shape[0]):
        s = a[t] * s + b[t]
        out.append(s)
    return torch.stack(out, 0)


def variants(H: int, T: int, B: int, device: str = "cpu") -> dict[str, Callable[[], None]]:
    genome = zoo.get("mingru")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, H, generator=g).to(device).requires_grad_()
    loop = compile_cell(genome, H, H, "script", scan=False, seed=0).to(device)
    native = compile_cell(genome, H, H, "native", scan=False, seed=0).to(device)
    scan_s = compile_cell(genome, H, H, "script", seed=0).to(device)
    scan_e = compile_cell(genome, H, H, "eager", seed=0).to(device)
    params = dict(scan_e.named_parameters())
    plan = scan_e.plan
    h0 = [torch.zeros(B, H, device=device)]

    def layer(m: torch.nn.Module) -> Callable[[], None]:
        def go() -> None:
            m(x)[0].sum().backward()
        return go

    def with_scan(fn: Callable[..., torch.Tensor]) -> Callable[[], None]:
        def go() -> None:
            run_scan(plan, params, x, h0, fn)[0].sum().backward()
        return go

    w = params[plan.x_group.weight_name]
    bias = params.get(plan.x_group.bias_name)

    def floor() -> None:
        F.linear(x.reshape(T * B, H), w, bias).sum().backward()

    return {
        "loop (script)": layer(loop),
        "loop (native)": layer(native),
        "scan (script)": layer(scan_s),
        "scan (eager)": layer(scan_e),
        "scan, doubling (autograd)": with_scan(doubling_scan),
        "scan, sequential over T": with_scan(sequential),
        "floor (input projections)": floor,
    }


def time_all(fns: dict[str, Callable[[], None]], repeats: int,
             device: str = "cpu") -> dict[str, float]:
    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    for fn in fns.values():  # warm-up: TorchScript profiling runs, allocator, CUDA builds
        for _ in range(2):
            fn()
    sync()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            sync()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--tag", default="", help="a suffix for the file names (letters, digits, -)")
    args = p.parse_args()
    if args.tag and not all(ch.isalnum() or ch == "-" for ch in args.tag):
        p.error(f"--tag {args.tag!r}: use letters, digits and '-'")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device here (torch.cuda.is_available() is False)")
    B = 16
    rows = []
    t0 = time.time()
    for T, H in ((1024, 64), (1024, 256), (64, 64), (64, 256)):
        ms = time_all(variants(H, T, B, args.device), args.repeats, args.device)
        floor = ms["floor (input projections)"]
        for k, v in ms.items():
            rows.append({"T": T, "B": B, "H": H, "path": k, "ms": round(v, 3),
                         "x_floor": round(v / floor, 2)})
            print(f"T={T} H={H} {k}: {v:.2f} ms ({v / floor:.2f}x floor)", flush=True)
    info = machine()
    info["device"] = (torch.cuda.get_device_name() if args.device == "cuda" else "cpu")
    info["wall_s"] = round(time.time() - t0, 1)
    info["repeats"] = args.repeats
    info["commit"] = git_commit()
    with contextlib.suppress(OSError):
        info["loadavg_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    OUT.mkdir(parents=True, exist_ok=True)
    stem = OUT / (f"scan_vs_loop-{time.strftime('%Y-%m-%d', time.gmtime())}"
                  + (f"-{args.tag}" if args.tag else ""))
    stem.with_suffix(".json").write_text(json.dumps({"machine": info, "rows": rows},
                                                    indent=2) + "\n")
    table = ["| T | H | path | ms (fwd+bwd) | x floor |", "|---|---|---|---|---|"]
    table += [f"| {r['T']} | {r['H']} | {r['path']} | {r['ms']:.2f} | {r['x_floor']:.2f} |"
              for r in rows]
    text = (f"# minGRU: step loop vs scan vs floor\n\n{info['cpu']}, {info['cores']} cores, "
            f"device {info['device']}, "
            f"torch {info['torch']}, {info['threads']} threads, {info['date']}; commit "
            f"{info['commit']}; one layer, batch {B}, input = hidden, float32, forward + "
            f"backward, median of {args.repeats} interleaved repetitions; load average after "
            f"the run: {info.get('loadavg_after', '?')}.\n\n"
            + "\n".join(table) + "\n")
    stem.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
