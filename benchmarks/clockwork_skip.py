"""Does the Clockwork RNN cost less than an SRN of the same size? (Koutník et al. 2014.)

Times one layer (script backend, forward + backward, and inference) of the zoo's ``clockwork``
(g = 4 modules, periods 1, 2, 4, 8) with and without the kernel path that skips the sleeping
modules' rows of W_H h, against ``rnn_tanh`` (the SRN) of the same size, interleaved in one
process; and counts the multiply-adds of the recurrent product per step. Writes
benchmarks/results/clockwork_skip-<date>-t<threads>.md and .json.

    python benchmarks/clockwork_skip.py [--hidden 200 512] [--repeats 25] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch

from lstm_search import zoo
from lstm_search.bench import machine
from lstm_search.compile import clock_mask, make_kernel
from lstm_search.genome import module_sizes
from lstm_search.nn import compile_rnn

OUT = Path(__file__).resolve().parent / "results"
T, B = 35, 20


def recurrent_macs(n: int, steps: int, g: int = 4) -> dict[str, float]:
    """Multiply-adds of the recurrent product per step and batch row, averaged over
    ``steps`` steps: the SRN's and the dense product's n², the skipping path's (active rows
    × n), and the paper's count (active module i reads only modules j ≥ i)."""
    plan = compile_rnn(zoo.clockwork(g), n, n).layers[0].plan
    mask = clock_mask(plan.clocks[0], n, steps)
    active = mask.sum(1).double().mean().item()  # rows multiplied per step, on average
    ks = module_sizes(n, g)
    paper = 0.0
    for i, k in enumerate(ks):
        share = sum(1 for t in range(steps) if t % 2 ** i == 0) / steps  # steps it is active
        paper += share * k * sum(ks[i:])
    return {"srn": n * n, "clockwork_full": n * n, "clockwork_skip": active * n,
            "clockwork_paper": paper}


def time_modules(n: int, repeats: int) -> dict[str, dict[str, float]]:
    skip = compile_rnn(zoo.get("clockwork"), n, n, seed=0)
    full = compile_rnn(zoo.get("clockwork"), n, n, seed=0)
    layer = full.layers[0]
    assert layer.plan.sleepy, "the zoo's clockwork should take the skipping path"
    layer.kernel = make_kernel(dataclasses.replace(layer.plan, sleepy=()), "script")
    mods = {"srn (rnn_tanh)": compile_rnn(zoo.get("rnn_tanh"), n, n, seed=0),
            "clockwork, skipping": skip, "clockwork, full product": full}
    x = torch.randn(T, B, n)
    train: dict[str, list[float]] = {k: [] for k in mods}
    infer: dict[str, list[float]] = {k: [] for k in mods}
    for rep in range(repeats + 3):  # the first 3 warm up
        for k, m in mods.items():
            t0 = time.perf_counter()
            y, _ = m(x)
            y.sum().backward()
            t1 = time.perf_counter()
            with torch.no_grad():
                m(x)
            t2 = time.perf_counter()
            if rep >= 3:
                train[k].append(t1 - t0)
                infer[k].append(t2 - t1)
    return {k: {"train_ms": 1e3 * statistics.median(train[k]),
                "infer_ms": 1e3 * statistics.median(infer[k])} for k in mods}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[200, 512])
    p.add_argument("--repeats", type=int, default=25)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results = {n: {"times": time_modules(n, args.repeats), "macs": recurrent_macs(n, T)}
               for n in args.hidden}
    info = machine()
    with contextlib.suppress(OSError):
        info["loadavg_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    lines = ["# Clockwork RNN (g = 4) against an SRN of the same size\n",
             f"{info['cpu']}, {info['cores']} cores (shared), torch {info['torch']}, "
             f"{info['threads']} threads, {info['date']}; one layer, script backend, batch {B}, "
             f"{T} steps, input = hidden, median of {args.repeats} interleaved repetitions; "
             f"load average after the run {info.get('loadavg_after', '?')} (timings on a "
             "loaded machine are noisy: compare rows of one run only).\n",
             "| hidden | module | fwd+bwd ms | inference ms |", "|---|---|---|---|"]
    for n, r in results.items():
        for k, v in r["times"].items():
            lines.append(f"| {n} | {k} | {v['train_ms']:.2f} | {v['infer_ms']:.2f} |")
    lines += ["", "Multiply-adds of the recurrent product per step and batch row:", "",
              "| hidden | SRN | clockwork, full product | clockwork, skipping | paper (blocks "
              "on and above the diagonal, active modules) |", "|---|---|---|---|---|"]
    for n, r in results.items():
        mc = r["macs"]
        lines.append(f"| {n} | {mc['srn']:,.0f} | {mc['clockwork_full']:,.0f} | "
                     f"{mc['clockwork_skip']:,.0f} | {mc['clockwork_paper']:,.0f} |")
    text = "\n".join(lines) + "\n"
    OUT.mkdir(parents=True, exist_ok=True)
    stem = OUT / f"clockwork_skip-{time.strftime('%Y-%m-%d', time.gmtime())}-t{args.threads}"
    stem.with_suffix(".json").write_text(json.dumps(
        {"machine": info, "results": {str(n): r for n, r in results.items()}}, indent=2) + "\n")
    stem.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
