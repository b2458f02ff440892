"""The chunkwise path of gated memories against their step loop and torch.nn.LSTM.

A gated memory (:mod:`lstm_search.compile._gated`) is a head-wise matrix memory whose decay
and write weights are per-head scalars of x and of scalar states, but not xLSTM's stabilised
form (:mod:`lstm_search.compile._memory`). Timed here, forward + backward of one layer, input
= hidden, in one process with interleaved repetitions (medians, ratios to torch.nn.LSTM of
the same sizes):

* ``gated``: a sigmoid-gated matrix memory, per head ``C' = σ(f̃) C + σ(ĩ) v kᵀ``,
  ``h = σ(W_o x) ⊙ C' q`` (the mLSTM's projections; no stabiliser, no normaliser: gated
  linear attention with a scalar gate per head);
* ``mlstm``: the zoo's mLSTM (the stabilised form, for comparison);

each on its chunkwise path and on the script backend's step loop (``scan=False``), at
T = 35, B = 20, hidden 200 (one head) and T = 1024, B = 16, hidden 64 (one head) and 256 (four
heads). Also counted: how many of 300 mutants (seeds 0-299) of the two-head mLSTM get each
path.

    python benchmarks/gated_memory.py [--repeats 7] [--threads 1] [--tag TAG]

Writes benchmarks/results/gated_memory-<date>[-<tag>].md and .json.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
from pathlib import Path

import torch

from lstm_search import zoo
from lstm_search.bench import interleaved_times, machine
from lstm_search.compile import build_plan
from lstm_search.genome import Builder, Genome, mutate
from lstm_search.nn import RecurrentLayer
from lstm_search.provenance import source_state

OUT = Path(__file__).resolve().parent / "results"


def gated(heads: int) -> Genome:
    """A sigmoid-gated matrix memory read by the query (see the module docstring)."""
    b = Builder(states=("C",))
    q = b.linear("x", name="q", bias=False)
    k = b.scale(b.linear("x", name="k_raw", bias=False), 1.0, dim_power=-0.5, name="k")
    v = b.linear("x", name="v", bias=False)
    o = b.sigmoid(b.linear("x", name="o_raw"), name="o")
    f = b.sigmoid(b.head_linear("x", name="f_raw", bias_init=3.0), name="f")
    i = b.sigmoid(b.head_linear("x", name="i_raw"), name="i")
    c_new = b.add(b.mul(f, "C", name="fC"), b.mul(i, b.outer(v, k, name="vk"), name="ivk"),
                  name="C_new")
    h = b.mul(o, b.matvec(c_new, q, name="Cq"), name="h")
    b.set_state("C", c_new)
    return b.build(output=h, name="gated_memory", values={"kind": "heads", "heads": heads})


def time_rows(cell: str, genome: Genome, T: int, B: int, H: int, heads: int, repeats: int
              ) -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, H, generator=gen).requires_grad_()
    torch.manual_seed(0)
    impls = {"torch.nn.LSTM": torch.nn.LSTM(H, H),
             "chunkwise": RecurrentLayer(genome, H, H, backend="script"),
             "step loop": RecurrentLayer(genome, H, H, backend="script", scan=False)}
    paths = {"torch.nn.LSTM": "-", "chunkwise": impls["chunkwise"].plan.path,
             "step loop": "step loop"}

    def step(m: torch.nn.Module) -> None:
        y, _ = m(x)
        y.sum().backward()

    times = interleaved_times(impls, step, x, repeats, warmup=1)
    base = statistics.median(times["torch.nn.LSTM"])
    return [{"cell": cell, "T": T, "B": B, "hidden": H, "heads": heads, "impl": k,
             "ms": statistics.median(v) * 1e3, "ratio": statistics.median(v) / base,
             "path": paths[k].split(":")[0]} for k, v in times.items()]


def mutant_paths(n: int = 300) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for seed in range(n):
        path = build_plan(mutate(zoo.mlstm(2), seed, hidden_size=8).genome, 5, 8).path
        counts[path.split(" (")[0].split(" with ")[0]] += 1
    return dict(counts.most_common())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    info = machine()
    state = source_state()
    info["commit"] = state.commit + (" (uncommitted changes)" if state.dirty else "")
    rows = []
    for T, B, H, heads, reps in ((35, 20, 200, 1, args.repeats * 3),
                                 (1024, 16, 64, 1, args.repeats),
                                 (1024, 16, 256, 4, max(3, args.repeats // 2))):
        for cell, genome in (("gated", gated(heads)), ("mlstm", zoo.mlstm(heads))):
            rows += time_rows(cell, genome, T, B, H, heads, reps)
            print(*(f"{r['cell']} T={T} H={H} {r['impl']}: {r['ms']:.1f} ms"
                    for r in rows[-3:]), sep="\n", flush=True)
    mutants = mutant_paths()
    lines = ["# Gated memories: the chunkwise path against the step loop", "",
             f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}, {args.threads} "
             f"thread(s), {info['date']}, commit {info.get('commit', '?')}. Forward + backward "
             "of one layer, input = hidden, medians of interleaved repetitions; ratio to "
             "torch.nn.LSTM of the same sizes in the same process. `gated`: per head "
             "C' = σ(f̃) C + σ(ĩ) v kᵀ, h = σ(W_o x) ⊙ C' q; `mlstm`: the zoo's stabilised "
             "mLSTM.", "",
             "| cell | T | B | hidden | heads | implementation | path | ms | ratio to torch |"
             " loop / chunkwise |", "|---|---:|---:|---:|---:|---|---|---:|---:|---:|"]
    for r in rows:
        loop = next(q for q in rows if q["cell"] == r["cell"] and q["T"] == r["T"]
                    and q["hidden"] == r["hidden"] and q["impl"] == "step loop")
        speedup = f"{loop['ms'] / r['ms']:.1f}x" if r["impl"] == "chunkwise" else ""
        lines.append(f"| {r['cell']} | {r['T']} | {r['B']} | {r['hidden']} | {r['heads']} | "
                     f"{r['impl']} | {r['path']} | {r['ms']:.1f} | {r['ratio']:.2f} | "
                     f"{speedup} |")
    lines += ["", "Paths of 300 mutants (seeds 0-299, `mutate(zoo.mlstm(2), seed, "
              "hidden_size=8)`):", ""]
    lines += [f"- {v}: {k}" for k, v in mutants.items()]
    text = "\n".join(lines) + "\n"
    stem = f"gated_memory-{info['date'][:10]}" + (f"-{args.tag}" if args.tag else "")
    OUT.mkdir(exist_ok=True)
    (OUT / f"{stem}.md").write_text(text)
    (OUT / f"{stem}.json").write_text(json.dumps({"machine": info, "threads": args.threads,
                                                  "rows": rows, "mutants": mutants},
                                                 indent=1))
    print(text)
    print(f"wrote {OUT / stem}.md")


if __name__ == "__main__":
    main()
