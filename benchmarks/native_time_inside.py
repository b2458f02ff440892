"""The native backend's time loop inside its one parallel loop (a step without matrix products:
minGRU, minLSTM, RG-LRU) against the programs it replaced, and all against the floor (the
cell's input projections alone), in one process with interleaved repetitions.

The step-by-step program (the generator with ``time_inside`` off) runs a parallel loop and a
few tensor operations per step; the time-inside ones run every step inside one parallel loop
over the batch's rows with pointer arithmetic only, one saving every value its backward reads
for every step, the other saving only what the steps read (the states and the input's
products) and recomputing the values in the backward. These three are the earlier programs,
whose product of x adds the bias, whose forward saves a copy of the raw input and which take
exp(2y) by an exponential of its own; "the backend's program" is the one the backend builds
today (its choice of the two time-inside ones, the bias added in the loop, its gradient summed
there, no copy of x, exp(2y) as the square of exp(y) and not saved: RG-LRU's a²). Forward +
backward of one layer, B = 16, input = hidden, float32, torch's default threads unless
``--threads``.

Writes benchmarks/results/native_time_inside-<date>[-<tag>].md and .json.

    python benchmarks/native_time_inside.py [--repeats 9] [--threads 2] [--tag intel]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from lstm_search import zoo
from lstm_search.bench import interleaved_times, machine
from lstm_search.compile import _native
from lstm_search.compile._codegen import layout
from lstm_search.compile._kernels import NativeKernel
from lstm_search.nn import compile_rnn
from lstm_search.provenance import git_commit

CELLS = ("mingru", "minlstm", "rglru")
SIZES = ((1024, 64), (1024, 256), (64, 64))
B = 16


def _variant(plan, time_inside: bool, recompute: bool):
    """The native kernel of ``plan`` built as one of the programs compared: the time loop
    outside (``time_inside`` False: the step-by-step program), or inside, saving every value
    the backward reads (``recompute`` False) or recomputing them (True) whatever the
    backend's own choice for the cell."""
    original = _native._Gen.__init__

    def init(self, *a, **k):
        original(self, *a, **k)
        self.recompute = False
        self.squares = {}  # and exp(2y) by an exponential of its own
        self._exp_of_half = lambda st: None
        self.lay = layout(self.plan)
        self.time_inside = self.time_inside and time_inside
        if recompute and self.time_inside:
            self.use_recompute()

    _native._Gen.__init__ = init
    try:
        return NativeKernel(plan)
    finally:
        _native._Gen.__init__ = original


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--tag", default="", help="a suffix for the file names (letters, digits, -)")
    args = p.parse_args()
    if args.tag and not all(ch.isalnum() or ch == "-" for ch in args.tag):
        p.error(f"--tag {args.tag!r}: use letters, digits and '-'")
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.time()
    rows = []
    for cell in CELLS:
        for T, H in SIZES:
            x = torch.randn(T, B, H, generator=torch.Generator().manual_seed(0),
                            requires_grad=True)
            new = compile_rnn(zoo.get(cell), H, H, backend="native", seed=0)
            assert new.layers[0].kernel.name == "native" and \
                new.layers[0].kernel.unit is not None
            chosen = "recomputing" if _native._Gen(new.layers[0].plan).recompute else "saving"
            recomputing = compile_rnn(zoo.get(cell), H, H, backend="native", seed=0)
            recomputing.layers[0].kernel = _variant(new.layers[0].plan, True, True)
            old = compile_rnn(zoo.get(cell), H, H, backend="native", seed=0)
            old.layers[0].kernel = _variant(old.layers[0].plan, False, False)
            saving = compile_rnn(zoo.get(cell), H, H, backend="native", seed=0)
            saving.layers[0].kernel = _variant(saving.layers[0].plan, True, False)
            n_proj = sum(p.shape[0] for name, p in new.named_parameters()
                         if p.dim() == 2)  # rows of the input projections
            floor = torch.nn.Linear(H, n_proj)

            def run(module, x=x) -> None:
                out = module(x)
                y = out[0] if isinstance(out, tuple) else out
                y.sum().backward()

            mark = {"recomputing": "", "saving": ""}
            mark[chosen] = " (the backend's choice, earlier program)"
            impls = {f"the backend's program ({chosen})": new,
                     f"time inside, recomputing{mark['recomputing']}": recomputing,
                     f"time inside, saving values{mark['saving']}": saving,
                     "step by step": old, "floor": floor}
            y_new, _ = new(x)
            y_new.sum().backward()
            g_new, x.grad = x.grad, None
            for other in (recomputing, saving, old):  # the same outputs and input gradient
                y_old, _ = other(x)
                y_old.sum().backward()
                assert torch.allclose(y_new, y_old, rtol=1e-5, atol=1e-6)
                assert torch.allclose(g_new, x.grad, rtol=1e-4, atol=1e-5)
                x.grad = None
            times = interleaved_times(impls, run, x, args.repeats, warmup=2)
            base = statistics.median(times["floor"])
            for k, ts in times.items():
                med = statistics.median(ts)
                rows.append({"cell": cell, "T": T, "H": H, "impl": k, "ms": med * 1e3,
                             "x_floor": med / base})
    info = machine()
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    out = Path(__file__).resolve().parent / "results" / (
        f"native_time_inside-{stamp}" + (f"-{args.tag}" if args.tag else ""))
    head = (f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}, "
            f"{info['threads']} threads, {info['date']}; commit {git_commit()}; one layer, "
            f"batch {B}, input = hidden, float32, forward + backward, median of "
            f"{args.repeats} interleaved repetitions; wall {time.time() - t_start:.0f} s.")
    lines = ["# Native backend: the time loop inside one parallel loop, against earlier programs",
             "", head, "", "| cell | T | H | program | ms (fwd+bwd) | x floor |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['cell']} | {r['T']} | {r['H']} | {r['impl']} | {r['ms']:.2f} | "
              f"{r['x_floor']:.2f} |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"machine": info, "rows": rows},
                                                   indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
